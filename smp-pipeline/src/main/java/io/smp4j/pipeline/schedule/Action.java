package io.smp4j.pipeline.schedule;

/**
 * One step of a pipeline rank's schedule: compute or move one microbatch through one of the rank's model chunks.
 * Text form: {@code F3} forward of microbatch 3, {@code B3} backward, {@code RA3}/{@code SA3} receive/send its
 * activation, {@code RG3}/{@code SG3} receive/send its gradient; with virtual stages the rank's chunk follows a
 * colon, {@code F3:1} (chunk 0 has no suffix).
 *
 * @param chunk which of the rank's chunks (virtual stages): rank r's chunk c is global stage {@code c * P + r}
 */
public record Action(Type type, int microbatch, int chunk) {
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
        if (chunk < 0) {
            throw new IllegalArgumentException("chunk must be >= 0, got " + chunk);
        }
    }

    /** An action on chunk 0 (the only one without virtual stages). */
    public Action(Type type, int microbatch) {
        this(type, microbatch, 0);
    }

    /** Parses the text form, e.g. {@code RA12} or {@code B3:1}. */
    public static Action parse(String text) {
        String body = text;
        int chunk = 0;
        int colon = text.indexOf(':');
        if (colon >= 0) {
            body = text.substring(0, colon);
            String c = text.substring(colon + 1);
            if (c.isEmpty() || !c.chars().allMatch(Character::isDigit)) {
                throw new IllegalArgumentException("'" + text + "' is not an action; examples: F0, B3, RA1, SA1, "
                        + "RG2, SG2, F0:1");
            }
            chunk = Integer.parseInt(c);
        }
        for (Type t : new Type[] {Type.RECV_ACTIVATION, Type.SEND_ACTIVATION, Type.RECV_GRADIENT, Type.SEND_GRADIENT,
                Type.FORWARD, Type.BACKWARD}) {
            if (body.startsWith(t.code) && body.length() > t.code.length()
                    && body.substring(t.code.length()).chars().allMatch(Character::isDigit)) {
                return new Action(t, Integer.parseInt(body.substring(t.code.length())), chunk);
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not an action; examples: F0, B3, RA1, SA1, RG2, SG2, "
                + "F0:1");
    }

    @Override
    public String toString() {
        return type.code + microbatch + (chunk == 0 ? "" : ":" + chunk);
    }
}
