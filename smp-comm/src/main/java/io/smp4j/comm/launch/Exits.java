package io.smp4j.comm.launch;

/** What a rank's exit code says, and the codes smp4j gives meaning to. */
final class Exits {
    /** Every rank refused the same input (a configuration, an option): restarting changes nothing. */
    static final int BAD_INPUT = 2;
    /** The launcher ended the job because a rank stopped running. */
    static final int STALLED = 124;

    private Exits() {
    }

    static String describe(int code) {
        if (code > 128 && code < 160) {
            int sig = code - 128;
            String name = switch (sig) {
                case 9 -> "SIGKILL";
                case 15 -> "SIGTERM";
                case 6 -> "SIGABRT";
                case 11 -> "SIGSEGV";
                case 2 -> "SIGINT";
                default -> "signal " + sig;
            };
            return "was killed by " + name + " (exit code " + code + ")";
        }
        return "exited with code " + code;
    }
}
