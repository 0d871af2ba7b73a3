package io.smp4j.core;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import io.smp4j.core.stage.StageContext;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.model.Materializer;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.wire.TensorCodec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Moves the units whose rank changes between two plans (global stage g runs on pipeline rank g mod P; with virtual
 * stages a unit may change chunk on its rank, which moves nothing): within every pipeline (each replica's alike), the rank that
 * ran a unit sends its parameter values (running statistics included) and the optimizer's state for them to the rank
 * that will run it. Collective over the world, in two phases ({@link DistributedModel} runs them): first every rank
 * sends and receives everything (nothing changes yet); then, only when every rank of the world reports success, all
 * {@link #apply}; otherwise every rank keeps its old plan and parameters.
 */
final class StageMove {
    /** Tags of the move's messages: a length, then the bytes, per unit (far above the stage links' tags). */
    private static final int TAG_BASE = Communicator.MAX_USER_TAG - (1 << 20);

    private StageMove() {
    }

    /** What a rank received: by unit index, the bytes of that unit. */
    static Map<Integer, byte[]> exchange(StageContext ctx, Block block, Optimizer optimizer, PartitionPlan from,
                                         PartitionPlan to) {
        List<ModelUnits.Unit> units = ModelUnits.resolve(block, to.unitNames());
        Communicator pipe = ctx.pipelineGroup();
        int me = ctx.ppRank();
        int p = ctx.ppSize();
        List<CommRequest> sends = new ArrayList<>();
        List<byte[]> keep = new ArrayList<>();
        for (int u = 0; u < units.size(); u++) {
            if (from.stageOf(u) % p == me && to.stageOf(u) % p != me) {
                byte[] body = serialize(Parameters.of(units.get(u).block()), optimizer);
                byte[] length = ByteBuffer.allocate(4).putInt(body.length).array();
                keep.add(length);
                keep.add(body);
                sends.add(pipe.isend(length, 0, 4, to.stageOf(u) % p, TAG_BASE + 2 * u));
                sends.add(pipe.isend(body, 0, body.length, to.stageOf(u) % p, TAG_BASE + 2 * u + 1));
            }
        }
        Map<Integer, byte[]> got = new HashMap<>();
        for (int u = 0; u < units.size(); u++) {
            if (to.stageOf(u) % p == me && from.stageOf(u) % p != me) {
                byte[] length = new byte[4];
                pipe.recv(length, 0, 4, from.stageOf(u) % p, TAG_BASE + 2 * u);
                byte[] body = new byte[ByteBuffer.wrap(length).getInt()];
                pipe.recv(body, 0, body.length, from.stageOf(u) % p, TAG_BASE + 2 * u + 1);
                got.put(u, body);
            }
        }
        CommRequest.awaitAll(sends);
        return got;
    }

    /**
     * Applies what {@link #exchange} received: parameters of arriving units are re-created and overwritten, their
     * optimizer state added; departing units' parameters and optimizer state are freed.
     */
    static void apply(StageContext ctx, Block block, NDManager manager, Optimizer optimizer, PartitionPlan from,
                      PartitionPlan to, Map<Integer, byte[]> received, List<TensorCodec.Header> unitInputs) {
        List<ModelUnits.Unit> units = ModelUnits.resolve(block, to.unitNames());
        int me = ctx.ppRank();
        int ranks = ctx.ppSize();
        for (Map.Entry<Integer, byte[]> e : received.entrySet()) {
            List<Parameter> params = Parameters.of(units.get(e.getKey()).block());
            // Zeros, not the initializer (no draw from the engine's random generator): the values arrive.
            Materializer.zeros(units.get(e.getKey()), manager, Materializer.shapes(unitInputs, e.getKey()));
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(e.getValue()))) {
                int n = in.readInt();
                if (n != params.size()) {
                    throw new IllegalStateException("unit " + units.get(e.getKey()).name() + " arrived with " + n
                            + " parameters, it has " + params.size());
                }
                for (Parameter p : params) {
                    TensorCodec.Stored v = TensorCodec.read(in);
                    DjlInternals.overwrite(p.getArray(), v.data());
                }
                if (in.readBoolean() && optimizer != null) {
                    OptimizerState.add(optimizer, params, OptimizerState.read(optimizer, params, in), manager);
                }
            } catch (IOException ex) {
                throw new UncheckedIOException("unit " + units.get(e.getKey()).name() + " arrived unreadable", ex);
            }
        }
        for (int u = 0; u < units.size(); u++) {
            if (from.stageOf(u) % ranks == me && to.stageOf(u) % ranks != me) {
                List<Parameter> params = Parameters.of(units.get(u).block());
                if (optimizer != null) {
                    OptimizerState.remove(optimizer, params);
                }
                params.forEach(Parameter::close);
            }
        }
    }

    private static byte[] serialize(List<Parameter> params, Optimizer optimizer) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(params.size());
            for (Parameter p : params) {
                TensorCodec.write(out, p.getArray());
            }
            out.writeBoolean(optimizer != null);
            if (optimizer != null) {
                OptimizerState.write(optimizer, params, out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }
}
