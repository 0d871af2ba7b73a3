package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.comm.CommRequest;
import io.smp4j.core.device.PeerAllReduce;
import io.smp4j.pipeline.exec.DeviceLink;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Rank program of the GPU path tests, 2 ranks on GPUs of one host: {@code GpuLinkMain link|allreduce
 * PROCESSES_PER_GPU}. {@code link}: the stage link's CUDA IPC path carries lists of arrays (float32, int64, a
 * non-contiguous view, an empty array) both ways over several slots and rounds, the second round larger (buffers
 * grow); the receiver compares every value with the sender's, bitwise. {@code allreduce}: the data-parallel average on
 * the GPUs of three arrays (one a non-contiguous view) against (a0 + a1) / 2 computed in Java float arithmetic,
 * bitwise. Prints {@code GPULINK mode=... rank=R checked=N OK|FAIL ...}.
 */
public final class GpuLinkMain {
    private GpuLinkMain() {
    }

    /** The values a (sender, slot, round) sends: reproducible on the receiver. */
    static float[] floats(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    static NDList message(NDManager m, int sender, int slot, int round) {
        long seed = 1000L * sender + 10L * slot + round;
        int rows = 3 + 5 * round;
        NDArray a = m.create(floats(seed, rows * 7 * 5), new Shape(rows, 7, 5));
        long[] ids = new long[rows];
        Arrays.setAll(ids, i -> seed * 31 + i);
        NDArray b = m.create(ids);
        NDArray wide = m.create(floats(seed + 1, 6 * (rows + 1)), new Shape(6, rows + 1));
        NDArray c = wide.transpose(); // a non-contiguous view
        NDArray empty = m.create(new float[0], new Shape(0, 4));
        return new NDList(a, b, c, empty);
    }

    static int compare(NDList got, NDList want, String what) {
        if (got.size() != want.size()) {
            throw new IllegalStateException(what + ": " + got.size() + " arrays, expected " + want.size());
        }
        for (int i = 0; i < want.size(); i++) {
            NDArray g = got.get(i);
            NDArray w = want.get(i);
            if (!g.getShape().equals(w.getShape()) || g.getDataType() != w.getDataType()
                    || !g.getDevice().equals(w.getDevice())) {
                throw new IllegalStateException(what + " array " + i + ": " + g.getShape() + " " + g.getDataType()
                        + " on " + g.getDevice() + ", expected " + w.getShape() + " " + w.getDataType() + " on "
                        + w.getDevice());
            }
            boolean same = w.getDataType() == DataType.INT64 ? Arrays.equals(g.toLongArray(), w.toLongArray())
                    : Arrays.equals(g.toFloatArray(), w.toFloatArray());
            if (!same) {
                throw new IllegalStateException(what + " array " + i + " differs");
            }
        }
        return want.size();
    }

    static int link(Smp smp, NDManager m) {
        DeviceLink link = smp.deviceResources().stageLink();
        if (link == null || !link.reaches(1 - smp.ppRank())) {
            throw new IllegalStateException("no device link between the two stages");
        }
        int me = smp.ppRank();
        int peer = 1 - me;
        int checked = 0;
        for (int round = 0; round < 3; round++) {
            for (int slot = 0; slot < 3; slot++) {
                try (NDManager scope = m.newSubManager()) {
                    List<CommRequest> pending = new ArrayList<>();
                    // Rank 0 sends first, then answers: each slot crosses both ways every round.
                    for (int turn = 0; turn < 2; turn++) {
                        int sender = turn;
                        if (me == sender) {
                            link.send(message(scope, me, slot, round), peer, slot, 4 * slot, 4 * slot + 1, pending);
                        } else {
                            NDList got = link.recv(scope, peer, slot, 4 * slot, 4 * slot + 1);
                            checked += compare(got, message(scope, peer, slot, round), "round " + round + " slot "
                                    + slot);
                        }
                    }
                    CommRequest.awaitAll(pending);
                }
            }
        }
        return checked;
    }

    static int allReduce(Smp smp, NDManager m) {
        PeerAllReduce ar = smp.deviceResources().gradientAllReduce(m);
        if (ar == null) {
            throw new IllegalStateException("no GPU all-reduce for the data-parallel group");
        }
        int checked = 0;
        for (int round = 0; round < 2; round++) {
            try (NDManager scope = m.newSubManager()) {
                int me = smp.dpRank();
                Shape[] shapes = {new Shape(64, 3, 3, 3), new Shape(10), new Shape(5, 9)};
                List<NDArray> mine = new ArrayList<>();
                float[][] expected = new float[shapes.length][];
                for (int k = 0; k < shapes.length; k++) {
                    int n = (int) shapes[k].size();
                    float[] a0 = floats(100L * round + k, n);
                    float[] a1 = floats(100L * round + k + 50, n);
                    float[] own = me == 0 ? a0 : a1;
                    NDArray x = k == 2
                            ? scope.create(own, new Shape(9, 5)).transpose() // non-contiguous, shape (5, 9)
                            : scope.create(own, shapes[k]);
                    mine.add(x);
                    expected[k] = new float[n];
                    float[] ordered = k == 2 ? transposeValues(a0, 9, 5) : a0;
                    float[] other = k == 2 ? transposeValues(a1, 9, 5) : a1;
                    for (int i = 0; i < n; i++) {
                        expected[k][i] = (ordered[i] + other[i]) / 2;
                    }
                }
                ar.average(mine);
                for (int k = 0; k < shapes.length; k++) {
                    if (!Arrays.equals(mine.get(k).toFloatArray(), expected[k])) {
                        throw new IllegalStateException("round " + round + " array " + k + ": the GPU average differs "
                                + "from (a0 + a1) / 2");
                    }
                    checked++;
                }
            }
        }
        return checked;
    }

    /** The values of a (rows x cols) row-major array transposed, in row-major order of the transpose. */
    static float[] transposeValues(float[] v, int rows, int cols) {
        float[] t = new float[v.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = v[r * cols + c];
            }
        }
        return t;
    }

    public static void main(String[] args) {
        String mode = args[0];
        int ppg = Integer.parseInt(args[1]);
        SmpConfig cfg = mode.equals("link")
                ? SmpConfig.builder().partitions(2).processesPerGpu(ppg).build()
                : SmpConfig.builder().partitions(1).ddp(true).processesPerGpu(ppg).build();
        int code = 0;
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager(smp.device())) {
            int checked = mode.equals("link") ? link(smp, m) : allReduce(smp, m);
            System.out.printf("GPULINK mode=%s rank=%d device=%s checked=%d OK%n", mode, smp.rank(), smp.device(),
                    checked);
        } catch (RuntimeException e) {
            System.out.printf("GPULINK mode=%s FAIL %s%n", mode, e);
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
