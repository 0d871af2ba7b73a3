package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Job files: a job's are found by its id; a file whose creating process is gone is stale, a live one's is not. */
class JobFilesTest {
    @Test
    void removesAJobsFilesAndStaleOnesOnly(@TempDir Path dir) throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        long dead = p.pid();
        long alive = ProcessHandle.current().pid();
        Path mine = Files.createFile(dir.resolve("smp4j-abc-" + alive + "-1"));
        Path other = Files.createFile(dir.resolve("smp4j-def-" + alive + "-2.sock"));
        Path stale = Files.createFile(dir.resolve("smp4j-ghi-" + dead + "-3"));
        Path unrelated = Files.createFile(dir.resolve("smp4j-notes.txt"));
        assertEquals(1, JobFiles.removeStale(List.of(dir)));
        assertFalse(Files.exists(stale));
        assertTrue(Files.exists(mine) && Files.exists(other) && Files.exists(unrelated));
        assertEquals(1, JobFiles.removeJob("abc", List.of(dir)));
        assertFalse(Files.exists(mine));
        assertTrue(Files.exists(other));
        assertTrue(JobFiles.name(".sock").matches("smp4j-\\w+-" + alive + "-[0-9a-f]{12}\\.sock"));
    }
}
