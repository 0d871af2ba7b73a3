package io.smp4j.comm.mpj;

import io.smp4j.comm.Backoff;
import io.smp4j.comm.CommException;
import io.smp4j.comm.group.LatchTransfer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import mpi.Datatype;
import mpi.Request;
import mpi.Status;

/**
 * The one thread of a process that calls MPJ Express: it posts sends and receives, polls them ({@code Test}) and wakes
 * the callers waiting on them, and runs MPJ's blocking calls (split, its own all-reduce, finalize). Two reasons:
 * MPJ is not known to be thread-safe, and some of its calls can block for ever (niodev writes an eager send under a
 * channel lock that a dead peer's connection never releases; {@code Split} and {@code Finalize} wait for every peer).
 * Callers wait for the engine with deadlines and park meanwhile, so a stuck MPJ call stops the engine, never a
 * caller past its timeout, and a waiting rank leaves its core to the ranks that compute.
 */
final class MpjEngine {
    private final BlockingQueue<Runnable> commands = new LinkedBlockingQueue<>();
    /** Posted requests not completed yet; touched by the engine thread only. */
    private final List<Pending> active = new ArrayList<>();
    private final Thread thread;
    private volatile boolean stopped;

    private record Pending(Request request, EngineTransfer transfer, Datatype recvType) {
    }

    MpjEngine() {
        thread = new Thread(this::loop, "smp-mpj-progress");
        thread.setDaemon(true);
        thread.start();
    }

    /** A send or receive the engine completes. */
    static final class EngineTransfer extends LatchTransfer {
        private final CountDownLatch posted = new CountDownLatch(1);

        EngineTransfer(int sendCount) {
            super(sendCount);
        }

        void posted() {
            posted.countDown();
        }

        @Override
        public void complete(int n) {
            posted.countDown();
            super.complete(n);
        }

        @Override
        public void fail(RuntimeException e) {
            posted.countDown();
            super.fail(e);
        }

        /** Waits until MPJ took the operation (a send has then copied the caller's buffer); false on timeout. */
        boolean awaitPosted(long nanos) {
            try {
                return posted.await(nanos, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CommException("interrupted while waiting for MPJ Express");
            }
        }
    }

    /** How the engine starts one request. */
    @FunctionalInterface
    interface Starter {
        Request start() throws Exception;
    }

    /**
     * Posts a request through the engine; {@code recvType} for a receive (the count comes from its status), null for a
     * send of {@code sendCount} elements. {@code describe} is the error when MPJ refuses it.
     */
    EngineTransfer post(Starter starter, Datatype recvType, int sendCount, String describe) {
        EngineTransfer t = new EngineTransfer(sendCount);
        submit(() -> {
            try {
                active.add(new Pending(starter.start(), t, recvType));
                t.posted();
            } catch (Exception e) {
                t.fail(new CommException(describe + ": " + e, e));
            }
        });
        return t;
    }

    /** Runs {@code call} on the engine and returns its result, waiting at most {@code timeout}. */
    <T> T call(Callable<T> call, Duration timeout, String what) {
        CompletableFuture<T> f = new CompletableFuture<>();
        submit(() -> {
            try {
                f.complete(call.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        try {
            return f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new CommException(what + " did not finish within " + timeout.toSeconds() + " s (a peer is gone or "
                    + "stopped, or MPJ Express is stuck on an earlier operation)");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new CommException(what + " failed: "
                    + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommException("interrupted while waiting for " + what);
        }
    }

    private void submit(Runnable command) {
        if (stopped) {
            throw new CommException("MPJ Express has been shut down in this process");
        }
        commands.add(command);
        // Cut a back-off nap short: the command may be the send a peer is waiting for.
        LockSupport.unpark(thread);
    }

    /** Stops polling; the thread ends after its current MPJ call returns (if it ever does). */
    void stop() {
        stopped = true;
        commands.add(() -> { });
    }

    private void loop() {
        Backoff backoff = new Backoff();
        while (!stopped) {
            for (Runnable c; (c = commands.poll()) != null; ) {
                c.run();
            }
            boolean progress = poll();
            if (active.isEmpty()) {
                // Nothing in flight: sleep until a command arrives (no core burnt while a rank computes).
                try {
                    Runnable c = commands.poll(100, TimeUnit.MILLISECONDS);
                    if (c != null) {
                        c.run();
                    }
                } catch (InterruptedException e) {
                    return;
                }
                backoff = new Backoff();
            } else if (progress) {
                backoff = new Backoff();
            } else {
                backoff.pause(Long.MAX_VALUE);
            }
        }
    }

    /** Tests every active request once; true if any completed. */
    private boolean poll() {
        boolean progress = false;
        for (Iterator<Pending> it = active.iterator(); it.hasNext(); ) {
            Pending p = it.next();
            try {
                Status s = p.request().Test();
                if (s == null) {
                    continue;
                }
                p.transfer().complete(p.recvType() == null ? p.transfer().count() : s.Get_count(p.recvType()));
            } catch (Exception e) {
                p.transfer().fail(new CommException("MPJ Express request failed: " + e, e));
            }
            it.remove();
            progress = true;
        }
        return progress;
    }
}
