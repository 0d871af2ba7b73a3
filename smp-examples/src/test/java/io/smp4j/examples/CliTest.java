package io.smp4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class CliTest {
    /** Runs the CLI with stdout and stderr captured; returns exit code and the text. */
    private static Object[] cli(String... args) throws Exception {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream capture = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        System.setOut(capture);
        System.setErr(capture);
        try {
            int code = Cli.run(List.of(args));
            return new Object[] {code, bytes.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void allReduceDemoOnThreeRealProcessesMatchesClosedForm() throws Exception {
        Object[] r = cli("run", "-np", "3", "allreduce", "--floats", "100003");
        String out = (String) r[1];
        assertEquals(0, r[0], out);
        assertTrue(out.contains("[rank 0] all-reduce (sum) of 100,003 floats (0.4 MB) over 3 ranks"), out);
        assertTrue(out.contains("result matches closed form (max error 0.0)"), out);
        assertEquals(3, out.lines().filter(l -> l.contains("average matches closed form (max error 0.0)")).count(),
                out);
    }

    @Test
    void aSingleProcessRunNeedsNoMpi() throws Exception {
        Object[] r = cli("run", "-np", "1", "allreduce", "--floats", "1000");
        String out = (String) r[1];
        assertEquals(0, r[0], out);
        assertTrue(out.contains("[rank 0] all-reduce (sum) of 1,000 floats (0.0 MB) over 1 ranks"), out);
    }

    @Test
    void anExplicitPartitionCountIsKept() throws Exception {
        Object[] r = cli("run", "-np", "4", "allreduce", "--floats", "1000", "--partitions", "1");
        String out = (String) r[1];
        assertEquals(0, r[0], out);
        assertTrue(out.contains("[rank 0] layout: world 4 = 1 stage x 4 replicas, placement DP"), out);
        assertEquals(4, out.lines().filter(l -> l.contains("data-parallel group [0, 1, 2, 3]: average matches"))
                .count(), out);
    }

    @Test
    void badCommandLinesSayWhatIsWrongAndWhatIsAllowed() throws Exception {
        Object[] r = cli("run", "-np", "2", "resnet9");
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).startsWith("smp: unknown example 'resnet9'; available: resnet18, allreduce, "
                + "commbench, trainbench"), (String) r[1]);
        // A bad example option: every rank refuses it before any work, one of them says why, the run fails.
        r = cli("run", "-np", "2", "resnet18", "--batch-size", "x");
        assertEquals(2, r[0], (String) r[1]);
        assertEquals(1, ((String) r[1]).lines().filter(l -> l.equals(
                "[rank 0] resnet18: --batch-size needs a whole number >= 1, got 'x'")).count(), (String) r[1]);
        r = cli("run", "-np", "two", "allreduce");
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).startsWith("smp: -np needs a number of processes, got 'two'"), (String) r[1]);
        r = cli("run", "-np", "0", "allreduce");
        assertTrue(((String) r[1]).startsWith("smp: -np must be at least 1, got 0"), (String) r[1]);
        r = cli("launch");
        assertTrue(((String) r[1]).startsWith("smp: unknown command 'launch'"), (String) r[1]);
    }

    @Test
    void aFailingExampleFailsTheRunAndNamesTheRank() throws Exception {
        // 3 ranks cannot hold 2 stages: every rank fails in Topology before any communication.
        Object[] r = cli("run", "-np", "3", "allreduce", "--floats", "10", "--partitions", "2");
        String out = (String) r[1];
        assertTrue((int) r[0] != 0, out);
        assertTrue(out.contains("world size 3 is not a multiple of partitions 2"), out);
        assertTrue(out.matches("(?s).*smp: rank \\d exited with code 1.*"), out);
    }
}
