package io.smp4j.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** A replica's share of a dataset: disjoint slices covering each global batch, by seed and epoch, through DJL. */
class ReplicaSamplerTest {
    @Test
    void replicasShareEachGlobalBatchAndEpochsDiffer() {
        int replicas = 3;
        int batch = 4;
        long size = 50; // 4 whole global batches of 12; 2 samples dropped
        List<ReplicaSampler> samplers = new ArrayList<>();
        for (int r = 0; r < replicas; r++) {
            samplers.add(new ReplicaSampler(r, replicas, batch, 9));
        }
        assertEquals(4, samplers.get(0).stepsPerEpoch(size));
        Set<Integer> epoch0 = new HashSet<>();
        for (int step = 0; step < 4; step++) {
            Set<Integer> global = new HashSet<>();
            for (ReplicaSampler s : samplers) {
                for (int i : s.indices(size, step)) {
                    assertTrue(global.add(i), "sample " + i + " twice in step " + step);
                }
            }
            assertEquals(replicas * batch, global.size());
            epoch0.addAll(global);
        }
        assertEquals(48, epoch0.size());
        // The same seed gives the same samples (every stage of a pipeline, every layout); the next epoch others.
        assertArrayEquals(samplers.get(1).indices(size, 2), new ReplicaSampler(1, replicas, batch, 9).indices(size, 2));
        assertFalse(Arrays.equals(samplers.get(1).indices(size, 0), samplers.get(1).indices(size, 4)));
        assertThrows(IllegalArgumentException.class, () -> samplers.get(0).indices(10, 0));
    }

    @Test
    void aDjlDatasetYieldsTheReplicasBatches() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] x = new float[20];
            for (int i = 0; i < x.length; i++) {
                x[i] = i;
            }
            ArrayDataset data = new ArrayDataset.Builder().setData(m.create(x, new Shape(20, 1)))
                    .optLabels(m.create(x)).setSampling(1, false).build();
            ReplicaSampler sampler = new ReplicaSampler(1, 2, 3, 4);
            sampler.setEpoch(1);
            int steps = 0;
            for (Batch b : data.getData(m, sampler)) {
                float[] got = b.getData().head().toFloatArray();
                float[] want = new float[3];
                int[] idx = sampler.indices(20, sampler.stepsPerEpoch(20) + steps);
                for (int i = 0; i < 3; i++) {
                    want[i] = idx[i];
                }
                assertArrayEquals(want, got);
                b.close();
                steps++;
            }
            assertEquals(3, steps); // 20 samples, global batches of 6: 3 whole ones
        }
    }

    @Test
    void listenersAreCalledInOrder() throws Exception {
        List<String> calls = new ArrayList<>();
        class Recorder implements StepListener {
            final String name;

            Recorder(String name) {
                this.name = name;
            }

            @Override
            public void onStep(StepRecord r) {
                calls.add(name + " step " + r.step() + " " + r.extra());
            }

            @Override
            public void onEpochEnd(int epoch, long step) {
                calls.add(name + " epoch " + epoch);
            }

            @Override
            public void onTrainingEnd(long step) {
                calls.add(name + " end " + step);
            }
        }
        StepListeners all = StepListeners.of(new Recorder("a")).add(new Recorder("b"));
        StepRecord r = new StepRecord(7, 2, 0.5f, 100, 32, Map.of("acc", 0.25));
        assertEquals(320.0, r.samplesPerSecond(), 1e-9);
        all.onStep(r);
        all.onEpochEnd(2, 7);
        all.onTrainingEnd(7);
        assertEquals(List.of("a step 7 {acc=0.25}", "b step 7 {acc=0.25}", "a epoch 2", "b epoch 2", "a end 7",
                "b end 7"), calls);
    }
}
