package io.smp4j.comm.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** When a failed job starts again: within the limit, not for a refused configuration, not for a repeated failure. */
class RestartPolicyTest {
    @Test
    void decides() {
        String killed = RestartPolicy.kind(137);
        assertEquals("was killed by SIGKILL (exit code 137)", killed);
        assertEquals("stalled", RestartPolicy.kind(124));
        assertNull(RestartPolicy.stop(0, 2, 137, killed, null));
        assertNull(RestartPolicy.stop(1, 2, 4, RestartPolicy.kind(4), killed));
        assertEquals("not restarted: the same failure twice in a row", RestartPolicy.stop(1, 2, 137, killed, killed));
        assertEquals("not restarted: every rank refused the configuration", RestartPolicy.stop(0, 2, 2,
                RestartPolicy.kind(2), null));
        assertEquals("restart limit 2 reached", RestartPolicy.stop(2, 2, 137, killed, RestartPolicy.kind(4)));
        assertNull(RestartPolicy.stop(0, 0, 137, killed, null)); // no restarts asked: the job just ends
    }
}
