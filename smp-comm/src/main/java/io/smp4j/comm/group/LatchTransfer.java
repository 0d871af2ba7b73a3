package io.smp4j.comm.group;

import io.smp4j.comm.CommException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A {@link Transfer} that another thread completes (or fails) once; waiters park on a latch until then. */
public class LatchTransfer implements Transfer {
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile int count;
    private volatile RuntimeException failure;

    /** @param count the element count until completion says otherwise (a send's own length) */
    public LatchTransfer(int count) {
        this.count = count;
    }

    /** Completes with {@code n} elements transferred. */
    public void complete(int n) {
        count = n;
        done.countDown();
    }

    /** Fails: waiters get {@code e}. */
    public void fail(RuntimeException e) {
        failure = e;
        done.countDown();
    }

    @Override
    public boolean isDone() {
        if (failure != null) {
            throw failure;
        }
        return done.getCount() == 0;
    }

    @Override
    public boolean await(long nanos) {
        try {
            done.await(nanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommException("interrupted while waiting for a transfer");
        }
        return isDone();
    }

    @Override
    public int count() {
        return count;
    }
}
