package io.smp4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's project template is the consumer project's pom, line for line: {@code ./smp test} builds that pom in a
 * folder outside the checkout and trains with it, so the README's text is what builds.
 */
class ReadmeTest {
    static final Path ROOT = Path.of("..");

    @Test
    void theProjectTemplateIsTheConsumerPom() throws Exception {
        String readme = Files.readString(ROOT.resolve("README.md"));
        int section = readme.indexOf("## Use smp4j in your project");
        assertTrue(section >= 0, "README has no 'Use smp4j in your project' section");
        Matcher m = Pattern.compile("```xml\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(section), "no xml block in that section");
        String block = m.group(1).strip();
        String pom = Files.readString(ROOT.resolve("smp-examples/consumer/pom.xml"));
        String body = pom.substring(pom.indexOf("  <properties>"), pom.indexOf("  </build>") + "  </build>".length());
        assertEquals(body.strip(), block);
        assertTrue(block.contains("<maven.compiler.release>17</maven.compiler.release>"));
        assertTrue(block.contains("maven-compiler-plugin</artifactId><version>"), "plugin versions pinned");
    }
}
