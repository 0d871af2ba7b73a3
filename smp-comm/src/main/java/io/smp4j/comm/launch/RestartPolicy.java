package io.smp4j.comm.launch;

/** When a failed job is started again ({@code --max-restarts}): a pure rule, the launcher's. */
final class RestartPolicy {
    private RestartPolicy() {
    }

    /**
     * How the job ended, whichever rank showed it first (when every rank runs out of memory alike, any of them may
     * be the first to exit): the exit code or signal, or a stall.
     */
    static String kind(int code) {
        return code == Exits.STALLED ? "stalled" : Exits.describe(code);
    }

    /**
     * Why attempt {@code attempt} (from 0) that ended with {@code code} ({@code kind}) is the last, or null to start
     * again: the limit, a configuration every rank refused, or the same kind of failure as the attempt before.
     */
    static String stop(int attempt, int maxRestarts, int code, String kind, String previousKind) {
        if (attempt >= maxRestarts) {
            return maxRestarts > 0 ? "restart limit " + maxRestarts + " reached" : null;
        }
        if (code == Exits.BAD_INPUT) {
            return "not restarted: every rank refused the configuration";
        }
        return kind.equals(previousKind) ? "not restarted: the same failure twice in a row" : null;
    }
}
