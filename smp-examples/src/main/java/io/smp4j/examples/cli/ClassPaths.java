package io.smp4j.examples.cli;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The class path of a user's program under {@code ./smp run --cp}: the user's entries first, as given but made
 * absolute against the directory the user ran {@code ./smp} from (the ranks may start elsewhere), then what smp4j's
 * own class path adds. smp4j adds its modules and their API dependencies, but never a jar the user brings in another
 * version (same artifact, by file name), nor, when the user brings their own, an engine with its JNI and natives (any
 * DJL engine) or a logging binding (any SLF4J provider): a GPU or logback user runs with their jars alone, not with
 * smp4j's CPU libtorch or slf4j-simple beside them.
 */
public final class ClassPaths {
    private static final Pattern VERSIONED = Pattern.compile("^(.+?)-\\d[^/]*\\.jar$");
    /** Jars of a DJL engine, its JNI or its natives. */
    private static final Pattern ENGINE = Pattern.compile("^(.+-engine|pytorch-jni|pytorch-native-.+|tensorflow-native-"
            + ".+|onnxruntime.*)$");
    /** SLF4J providers (bindings). */
    private static final Set<String> BINDINGS = Set.of("slf4j-simple", "logback-classic", "slf4j-reload4j",
            "log4j-slf4j2-impl", "log4j-slf4j-impl", "slf4j-jdk14", "slf4j-nop", "slf4j-log4j12");

    private ClassPaths() {
    }

    /** The artifact a jar's file name names ({@code commons-io-2.20.0.jar} -> {@code commons-io}), or null. */
    static String artifact(String entry) {
        Matcher m = VERSIONED.matcher(Path.of(entry).getFileName().toString());
        return m.matches() ? m.group(1) : null;
    }

    /**
     * {@code user} (a class path string, entries relative to {@code callerDir} made absolute) followed by the entries
     * of {@code smp4j} that it does not replace.
     */
    public static String forUser(String user, Path callerDir, String smp4j) {
        List<String> out = new ArrayList<>();
        Set<String> userArtifacts = new HashSet<>();
        boolean engine = false;
        boolean binding = false;
        for (String e : user.split(File.pathSeparator)) {
            if (e.isBlank()) {
                continue;
            }
            out.add(e.endsWith("*") || Path.of(e).isAbsolute() ? e : callerDir.resolve(e).normalize().toString());
            String a = artifact(e);
            if (a != null) {
                userArtifacts.add(a);
                engine |= ENGINE.matcher(a).matches();
                binding |= BINDINGS.contains(a);
            }
        }
        for (String e : smp4j.split(File.pathSeparator)) {
            String a = artifact(e);
            if (e.isBlank() || a != null && (userArtifacts.contains(a) || engine && ENGINE.matcher(a).matches()
                    || binding && BINDINGS.contains(a))) {
                continue;
            }
            out.add(e);
        }
        return String.join(File.pathSeparator, out);
    }
}
