package io.smp4j.examples.resnet;

import ai.djl.Device;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.core.train.ReplicaSampler;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The example's input pipeline: the images of the next steps are read, decoded, resized and normalised by background
 * threads, and moved to the training device, while the current step trains; a step then starts with its batch ready.
 * At most {@code depth} batches are prepared ahead (bounded memory). With depth 0 a batch is made when asked for, on
 * the caller's thread.
 */
final class BatchPrefetcher implements AutoCloseable {
    /** One step's batch: images and labels, owned by {@link #manager}; close it after the step. */
    record Batch(NDManager manager, NDList images, NDList labels) implements AutoCloseable {
        @Override
        public void close() {
            manager.close();
        }
    }

    private final ImageData.SortedImageFolder data;
    private final ReplicaSampler order;
    private final int depth;
    private final int lastStep;
    private final Device device;
    private final ExecutorService pool;
    private final Map<Integer, Future<Batch>> pending = new HashMap<>();

    /**
     * @param lastStep one past the last step that will be asked for
     * @param threads  decoding threads (used when {@code depth} > 0)
     */
    BatchPrefetcher(ImageData.SortedImageFolder data, ReplicaSampler order, int depth, int threads, int lastStep,
                    Device device) {
        this.data = data;
        this.order = order;
        this.depth = depth;
        this.lastStep = lastStep;
        this.device = device;
        this.pool = depth == 0 ? null : Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "smp-example-loader");
            t.setDaemon(true);
            return t;
        });
    }

    /** Step {@code step}'s batch on the device; asks for the next {@code depth} steps' batches too. */
    Batch take(int step) throws Exception {
        if (pool == null) {
            return load(step);
        }
        for (int s = step; s < Math.min(lastStep, step + 1 + depth); s++) {
            final int k = s;
            pending.computeIfAbsent(k, key -> pool.submit(() -> load(k)));
        }
        try {
            return pending.remove(step).get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : new IllegalStateException(e.getCause());
        }
    }

    private Batch load(int step) throws Exception {
        int[] indices;
        synchronized (order) {
            indices = order.indices(data.size(), step);
        }
        NDManager m = NDManager.newBaseManager(device);
        try {
            NDList[] b;
            try (NDManager host = NDManager.newBaseManager(Device.cpu())) {
                b = ImageData.batch(data, host, indices);
                NDList x = b[0].toDevice(device, true);
                NDList y = b[1].toDevice(device, true);
                x.attach(m);
                y.attach(m);
                return new Batch(m, x, y);
            }
        } catch (Exception | Error e) {
            m.close();
            throw e;
        }
    }

    @Override
    public void close() {
        if (pool == null) {
            return;
        }
        pool.shutdownNow();
        for (Future<Batch> f : pending.values()) {
            try {
                f.get().close();
            } catch (Exception ignored) {
                // a batch that failed or was cancelled holds nothing
            }
        }
        pending.clear();
    }
}
