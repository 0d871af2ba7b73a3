package io.smp4j.pipeline.exec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import io.smp4j.comm.local.LocalCluster;
import io.smp4j.pipeline.schedule.Action;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.Schedules;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The observer with marks read at the step's end (a GPU's events): observers hear nothing during the step, then each
 * action with the times of its own two marks; the compute clock adds exactly those. With marks read at once (the
 * host's clock) they hear each action as it ends.
 */
class DeviceClockTest {
    /** Marks whose "device" times are 1000 ns apart from 1000 on: mark k passed at 1000 (k + 1). */
    static final class DeferredMarks implements DeviceClock {
        int made;
        int pending;
        int resolves;

        @Override
        public int mark() {
            made++;
            return pending++;
        }

        @Override
        public long[] resolve() {
            resolves++;
            long[] t = new long[pending];
            for (int k = 0; k < pending; k++) {
                t[k] = 1000L * (made - pending + k + 1);
            }
            pending = 0;
            return t;
        }

        @Override
        public void forget() {
            pending = 0;
        }

        @Override
        public boolean immediate() {
            return false;
        }
    }

    /** An action the listener heard: its times, and a count read when it was heard. */
    record Heard(Action action, long t0, long t1, int countThen) {
    }

    /** One training step (one stage, 2 microbatches, simple: F0 F1 B0 B1) observed through {@code marks}. */
    private static List<Heard> step(PipelineExecutor exec, NDManager m, DeviceClock marks,
                                    java.util.function.IntSupplier count) {
        List<Heard> heard = new ArrayList<>();
        exec.setListener(new ActionListener() {
            @Override
            public boolean active() {
                return true;
            }

            @Override
            public void executed(Action a, long t0, long t1) {
                heard.add(new Heard(a, t0, t1, count.getAsInt()));
            }
        }, marks);
        Schedule schedule = Schedules.of("simple", 1, 2);
        List<NDList> x = List.of(new NDList(m.ones(new Shape(2, 5))), new NDList(m.ones(new Shape(2, 5)).mul(2)));
        List<NDList> y = List.of(new NDList(m.zeros(new Shape(2, 3))), new NDList(m.ones(new Shape(2, 3))));
        TrainSteps.trainStep(exec, schedule, x, y, Loss.l2Loss(), 0.5f);
        return heard;
    }

    private static PipelineExecutor executor(NDManager m) {
        SequentialBlock stage = new SequentialBlock().add(Linear.builder().setUnits(3).build());
        stage.initialize(m, DataType.FLOAT32, new Shape(2, 5));
        return new PipelineExecutor(stage, 0, 1, new LocalCluster(1, Duration.ofSeconds(5)).world(0), m, "units 0..0");
    }

    @Test
    void marksReadAtTheStepsEndTimeEachActionByItsOwnMarks() {
        try (NDManager m = NDManager.newBaseManager()) {
            PipelineExecutor exec = executor(m);
            exec.computeClock().setMeasuring(true);
            DeferredMarks marks = new DeferredMarks();
            List<Heard> heard = step(exec, m, marks, () -> marks.made);
            // Two marks per action, one resolve at the end; nothing heard before the last mark.
            assertEquals(4, heard.size(), heard.toString());
            assertEquals(8, marks.made);
            assertEquals(1, marks.resolves);
            for (int i = 0; i < heard.size(); i++) {
                Heard h = heard.get(i);
                assertEquals(8, h.countThen(), "action " + h.action() + " heard before the step's end");
                assertArrayEquals(new long[] {1000L * (2 * i + 1), 1000L * (2 * i + 2)}, new long[] {h.t0(), h.t1()});
            }
            ComputeClock.Sample s = exec.computeClock().take();
            assertEquals(4 * 1000L, s.total()[0], "forward and backward, 1000 ns each");
            assertEquals(2 * 1000L, s.forward()[0]);
        }
    }

    @Test
    void hostMarksTellEachActionAsItEnds() {
        try (NDManager m = NDManager.newBaseManager()) {
            int[] synchronizations = new int[1];
            List<Heard> heard = step(executor(m), m, DeviceClock.synchronizing(() -> synchronizations[0]++),
                    () -> synchronizations[0]);
            assertEquals(4, heard.size());
            for (int i = 0; i < heard.size(); i++) {
                Heard h = heard.get(i);
                assertEquals(2 * (i + 1), h.countThen(), "heard right after its own two synchronisations");
                assertTrue(h.t0() <= h.t1());
                assertTrue(i == 0 || heard.get(i - 1).t1() <= h.t0());
            }
        }
    }
}
