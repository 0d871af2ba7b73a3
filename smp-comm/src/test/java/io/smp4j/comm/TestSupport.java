package io.smp4j.comm;

/** Settings shared by the multi-process tests. */
public final class TestSupport {
    private TestSupport() {
    }

    /** Communication timeout for ranks started by tests (pom property smp.test.timeout.s). */
    public static String timeoutSeconds() {
        return System.getProperty("smp.test.timeout.s", "20");
    }
}
