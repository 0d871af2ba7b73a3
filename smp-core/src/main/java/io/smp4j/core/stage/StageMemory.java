package io.smp4j.core.stage;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.smp4j.core.device.Gpu;
import io.smp4j.pipeline.model.Materializer;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Partitioner;
import io.smp4j.pipeline.wire.TensorCodec;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A stage's memory at partitioning: the limits a plan must fit, and a delayed model's own stage given memory. */
final class StageMemory {
    private static final Logger LOG = LoggerFactory.getLogger(StageMemory.class);

    private StageMemory() {
    }

    /**
     * Collective over the world: each stage's memory limit = the least, among the ranks that run it, of their GPU's free
     * memory (probed at start-up) and {@code memory_budget_mb}; null when some rank has neither (a CPU rank without a
     * budget).
     */
    static long[] limits(StageContext ctx) {
        Gpu gpu = ctx.gpu();
        // Ranks that share a GPU share its free memory.
        long mine = gpu == null ? -1 : gpu.freeBytes() / ctx.settings().processesPerGpu();
        long budget = (long) (ctx.settings().memoryBudgetMb() * 1e6);
        if (budget > 0) {
            mine = mine < 0 ? budget : Math.min(mine, budget);
        }
        byte[][] all = ctx.world().allGather(ByteBuffer.allocate(8).putLong(mine).array());
        int v = ctx.settings().virtualStages();
        long[] limits = new long[ctx.ppSize() * v];
        Arrays.fill(limits, Long.MAX_VALUE);
        for (int r = 0; r < all.length; r++) {
            long free = ByteBuffer.wrap(all[r]).getLong();
            if (free < 0) {
                return null;
            }
            // A rank's chunks share its device: each may use 1/v of it.
            for (int g = ctx.topology().ppRank(r); g < limits.length; g += ctx.ppSize()) {
                limits[g] = Math.min(limits[g], free / v);
            }
        }
        return limits;
    }

    /**
     * Delayed initialisation: this rank allocates the units it runs (and replicas it keeps), each parameter from its
     * seeded initializer, so that its values are those the whole model initialised at once would have.
     */
    static void materializeOwn(StageContext ctx, PartitionPlan plan, List<ModelUnits.Unit> units,
                                       List<TensorCodec.Header> inputs, NDManager manager) {
        long bytes = 0;
        for (int u = 0; u < units.size(); u++) {
            if (LentUnits.keeps(plan, u, ctx.ppRank(), ctx.ppSize())) {
                Materializer.materialize(units.get(u), manager, DataType.FLOAT32, Materializer.shapes(inputs, u));
                for (Parameter prm : Parameters.of(units.get(u).block())) {
                    bytes += prm.getArray().size() * prm.getArray().getDataType().getNumOfBytes();
                }
            }
        }
        LOG.info("rank {}: delayed initialisation materialised {} of parameters for stage {} (no other stage's)",
                ctx.rank(), Partitioner.bytes(bytes), ctx.ppRank());
    }
}
