package io.smp4j.comm;

/** A communication operation failed: transport error, protocol misuse, or a peer that is gone. */
public class CommException extends RuntimeException {
    public CommException(String message) {
        super(message);
    }

    public CommException(String message, Throwable cause) {
        super(message, cause);
    }
}
