package io.smp4j.pipeline.schedule;

/**
 * One step of a pipeline rank's schedule: compute or move one microbatch. Text form: {@code F3} forward of
 * microbatch 3, {@code B3} backward, {@code RA3}/{@code SA3} receive/send its activation, {@code RG3}/{@code SG3}
 * receive/send its gradient.
 */
public record Action(Type type, int microbatch) {
    /** What an action does. */
    public enum Type {
        FORWARD("F"), BACKWARD("B"), RECV_ACTIVATION("RA"), SEND_ACTIVATION("SA"), RECV_GRADIENT("RG"),
        SEND_GRADIENT("SG");

        final String code;

        Type(String code) {
            this.code = code;
        }

        /** True for the two actions that compute. */
        public boolean computes() {
            return this == FORWARD || this == BACKWARD;
        }
    }

    public Action {
        if (microbatch < 0) {
            throw new IllegalArgumentException("microbatch must be >= 0, got " + microbatch);
        }
    }

    /** Parses the text form, e.g. {@code RA12}. */
    public static Action parse(String text) {
        for (Type t : new Type[] {Type.RECV_ACTIVATION, Type.SEND_ACTIVATION, Type.RECV_GRADIENT, Type.SEND_GRADIENT,
                Type.FORWARD, Type.BACKWARD}) {
            if (text.startsWith(t.code) && text.length() > t.code.length()
                    && text.substring(t.code.length()).chars().allMatch(Character::isDigit)) {
                return new Action(t, Integer.parseInt(text.substring(t.code.length())));
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not an action; examples: F0, B3, RA1, SA1, RG2, SG2");
    }

    @Override
    public String toString() {
        return type.code + microbatch;
    }
}
