package io.smp4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code ./smp run --cp}: the user's entries against the caller's directory, and smp4j's that they do not replace. */
class ClassPathsTest {
    static final String SMP4J = String.join(":", "/smp/smp-examples/target/classes", "/m2/smp-core-0.1.0-SNAPSHOT.jar",
            "/m2/api-0.35.1.jar", "/m2/commons-io-2.20.0.jar", "/m2/pytorch-engine-0.35.1.jar",
            "/m2/pytorch-jni-2.7.1-0.35.1.jar", "/m2/pytorch-native-cpu-2.7.1-linux-x86_64.jar",
            "/m2/slf4j-api-2.0.16.jar", "/m2/slf4j-simple-2.0.16.jar");

    @Test
    void relativeEntriesMeanTheCallersDirectory() {
        String cp = ClassPaths.forUser("target/classes:lib/*:/abs/x.jar", Path.of("/home/me/proj"), "/m2/a-1.jar");
        assertEquals(List.of("/home/me/proj/target/classes", "lib/*", "/abs/x.jar", "/m2/a-1.jar"),
                List.of(cp.split(":")));
    }

    @Test
    void theUsersEngineBindingAndVersionsReplaceSmp4jsOwn() {
        String user = String.join(":", "target/classes", "/m2/commons-io-2.16.1.jar", "/m2/pytorch-engine-0.35.1.jar",
                "/m2/logback-classic-1.5.6.jar");
        assertEquals(List.of("/p/target/classes", "/m2/commons-io-2.16.1.jar", "/m2/pytorch-engine-0.35.1.jar",
                        "/m2/logback-classic-1.5.6.jar", "/smp/smp-examples/target/classes",
                        "/m2/smp-core-0.1.0-SNAPSHOT.jar", "/m2/api-0.35.1.jar", "/m2/slf4j-api-2.0.16.jar"),
                List.of(ClassPaths.forUser(user, Path.of("/p"), SMP4J).split(":")));
        // Without an engine or binding of the user's own, smp4j's stay (the CPU libtorch, slf4j-simple).
        assertEquals(SMP4J.split(":").length + 1, ClassPaths.forUser("a", Path.of("/p"), SMP4J).split(":").length);
    }

    @Test
    void artifactsFromFileNames() {
        assertEquals("pytorch-native-cpu", ClassPaths.artifact("/x/pytorch-native-cpu-2.7.1-linux-x86_64.jar"));
        assertEquals("smp-core", ClassPaths.artifact("smp-core-0.1.0-SNAPSHOT.jar"));
        assertNull(ClassPaths.artifact("/x/target/classes"));
    }
}
