package io.smp4j.examples.support;

import ai.djl.engine.Engine;
import ai.djl.util.Platform;

/** What this process runs on, read at run time (not written down): DJL's engine and libtorch, MPJ Express. */
public final class Versions {
    private Versions() {
    }

    /** E.g. {@code PyTorch 2.11.0 (cu130) via DJL 0.35.1}; throws when the engine does not load. */
    public static String engine() {
        Engine e = Engine.getInstance();
        String flavor = "";
        try {
            flavor = Platform.detectPlatform("pytorch").getFlavor();
        } catch (RuntimeException ignored) {
            // a library from PYTORCH_LIBRARY_PATH has no platform file
            flavor = System.getenv().getOrDefault("PYTORCH_FLAVOR", "");
        }
        return e.getEngineName() + " " + e.getVersion() + (flavor.isEmpty() ? "" : " (" + flavor + ")") + " via DJL "
                + Engine.getDjlVersion();
    }

    /** Where MPJ Express's classes come from; throws ClassNotFoundException when it is missing. */
    public static String mpj() throws ClassNotFoundException {
        Class<?> c = Class.forName("mpi.MPI");
        String where = c.getProtectionDomain().getCodeSource() == null ? "?"
                : c.getProtectionDomain().getCodeSource().getLocation().getPath();
        return "MPJ Express (mpi.MPI from " + where + ")";
    }
}
