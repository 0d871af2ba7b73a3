package io.smp4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class CliTest {
    /** Runs the CLI with stdout and stderr captured; returns exit code and the text. */
    private static Object[] cli(String... args) throws Exception {
        CliRun r = CliRun.of(List.of(args));
        return new Object[] {r.code(), r.output()};
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
        assertTrue(((String) r[1]).startsWith("smp: unknown example 'resnet9'; available: resnet18, gpt, allreduce, "
                + "commbench, trainbench (your own program: ./smp run -np N --cp CLASSPATH MAIN-CLASS)"), (String) r[1]);
        // A bad example option: every rank refuses it before any work, one of them says why, the run fails.
        r = cli("run", "-np", "2", "resnet18", "--batch-size", "x");
        assertEquals(2, r[0], (String) r[1]);
        assertEquals(1, ((String) r[1]).lines().filter(l -> l.equals(
                "[rank 0] resnet18: --batch-size needs a whole number >= 1, got 'x' (--help lists the options)"))
                .count(), (String) r[1]);
        r = cli("run", "-np", "two", "allreduce");
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).startsWith("smp: -np needs a number of processes, got 'two'"), (String) r[1]);
        r = cli("run", "-np", "0", "allreduce");
        assertTrue(((String) r[1]).startsWith("smp: -np must be at least 1, got 0"), (String) r[1]);
        r = cli("launch");
        assertTrue(((String) r[1]).startsWith("smp: unknown command 'launch'"), (String) r[1]);
        r = cli("run", "-np");
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).startsWith("smp: option -np needs a value"), (String) r[1]);
        r = cli("run", "--np", "2", "allreduce");
        assertTrue(((String) r[1]).startsWith("smp: unknown option --np; did you mean -np?"), (String) r[1]);
        r = cli("run", "-np", "2", "--cp", "x.jar");
        assertTrue(((String) r[1]).startsWith("smp: no main class given after --cp"), (String) r[1]);
        r = cli("bench", "gpus");
        assertTrue(((String) r[1]).startsWith("smp: unknown benchmark 'gpus'"), (String) r[1]);
    }

    /** Every command and program has --help, generated from its options. */
    @Test
    void helpForEachCommand() throws Exception {
        Object[] r = cli("run", "--help");
        assertEquals(0, r[0]);
        assertTrue(((String) r[1]).contains("--cp=CLASSPATH"), (String) r[1]);
        assertTrue(((String) r[1]).contains("--threads=T"), (String) r[1]);
        r = cli("run", "-np", "1", "resnet18", "--help");
        assertEquals(0, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("--microbatches=M") && ((String) r[1]).contains("--checkpoint-dir=DIR"),
                (String) r[1]);
        r = cli("run", "-np", "1", "allreduce", "--help");
        assertEquals(0, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("--floats=F"), (String) r[1]);
        r = cli("bench", "--help");
        assertEquals(0, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("--steps=N"), (String) r[1]);
        r = cli("help");
        assertEquals(0, r[0]);
        assertTrue(((String) r[1]).contains("./smp run -np N --cp CP MAIN-CLASS [args]"), (String) r[1]);
    }

    /**
     * Any program, not only the examples: a main class from a class path of one's own, launched the way the examples
     * are (token, output prefixes, the rank's failure named).
     */
    @Test
    void ownProgramsRunFromTheirClassPath(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path src = dir.resolve("src/demo/Hello.java");
        java.nio.file.Files.createDirectories(src.getParent());
        java.nio.file.Files.writeString(src, """
                package demo;
                public class Hello {
                    public static void main(String[] args) throws Exception {
                        try (io.smp4j.comm.Communicator w = io.smp4j.comm.launch.Bootstrap.init()) {
                            float[] v = {w.rank() + 1};
                            w.allReduce(v, io.smp4j.comm.ReduceOp.SUM);
                            System.out.println("hello from rank " + w.rank() + " of " + w.size() + ": sum " + v[0]
                                    + " args " + String.join(",", args)
                                    + " token " + (System.getenv("SMP_JOB_TOKEN") != null));
                            if (args.length > 0 && args[0].equals("fail") && w.rank() == 1) {
                                System.exit(7);
                            }
                        }
                    }
                }
                """);
        java.nio.file.Path classes = dir.resolve("classes");
        javax.tools.ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(), "-cp",
                System.getProperty("java.class.path"), src.toString());
        Object[] r = cli("run", "-np", "3", "--cp", classes.toString(), "demo.Hello", "a", "--b");
        String out = (String) r[1];
        assertEquals(0, r[0], out);
        for (int k = 0; k < 3; k++) {
            assertTrue(out.contains("[rank " + k + "] hello from rank " + k + " of 3: sum 6.0 args a,--b token true"),
                    out);
        }
        r = cli("run", "-np", "2", "--cp", classes.toString(), "demo.Hello", "fail");
        assertEquals(7, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("smp: rank 1 exited with code 7"), (String) r[1]);
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
