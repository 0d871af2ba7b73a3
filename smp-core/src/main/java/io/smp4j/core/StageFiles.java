package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.wire.TensorCodec;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** The files of one stage in a checkpoint: names, and the parameter format (names and arrays in TensorCodec's form). */
final class StageFiles {
    private StageFiles() {
    }

    /** A stage's parameters: count, then per parameter its name and its array (type, shape, values). */
    static void writeStage(Block stage, DataOutputStream out) throws IOException {
        List<Parameter> params = Parameters.of(stage);
        out.writeInt(params.size());
        for (Parameter p : params) {
            out.writeUTF(p.getName());
            TensorCodec.write(out, p.getArray());
        }
    }

    /** Reads what {@link #writeStage} wrote, checking it against the stage's names, types and shapes. */
    static List<TensorCodec.Stored> readStage(Block stage, DataInputStream in) throws IOException {
        List<Parameter> params = Parameters.of(stage);
        List<TensorCodec.Stored> values = new ArrayList<>();
        int n = in.readInt();
        if (n != params.size()) {
            throw new IOException("it holds " + n + " parameters, the stage has " + params.size());
        }
        for (Parameter p : params) {
            String name = in.readUTF();
            TensorCodec.Stored v = TensorCodec.read(in);
            NDArray a = p.getArray();
            if (!name.equals(p.getName()) || !v.shape().equals(a.getShape()) || v.type() != a.getDataType()) {
                throw new IOException("parameter " + name + " " + v.type() + " " + v.shape() + " does not match "
                        + p.getName() + " " + a.getDataType() + " " + a.getShape());
            }
            values.add(v);
        }
        return values;
    }

    /** Overwrites the stage's parameters in place (see {@link DjlInternals#overwrite}). */
    static void apply(Block stage, List<TensorCodec.Stored> values) {
        List<Parameter> params = Parameters.of(stage);
        for (int i = 0; i < params.size(); i++) {
            DjlInternals.overwrite(params.get(i).getArray(), values.get(i).data());
        }
    }

    static String optimizerFile(int stage) {
        return "stage-" + stage + ".optimizer";
    }

    static String stageFile(int stage) {
        return "stage-" + stage + ".params";
    }
}
