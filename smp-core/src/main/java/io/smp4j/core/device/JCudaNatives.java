package io.smp4j.core.device;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import jcuda.JCudaVersion;
import jcuda.LibUtils;

/**
 * Puts JCuda's runtime library where JCuda looks for it (java.io.tmpdir, a fixed name) atomically, before JCuda's
 * first call. JCuda writes the file itself when it is missing, and loads it when it exists: ranks starting together
 * on a fresh machine raced, and one loaded the file while another was still writing it (SIGBUS in the dynamic loader,
 * seen on a fresh machine). Here each writes a private temporary file and renames it into place; a complete file
 * is never replaced.
 */
final class JCudaNatives {
    private static volatile boolean done;

    private JCudaNatives() {
    }

    /** Best effort: on any problem JCuda's own loading runs as before (and reports its own errors). */
    static synchronized void prepare() {
        if (done) {
            return;
        }
        done = true;
        try {
            String file = LibUtils.createLibraryFileName(LibUtils.createPlatformLibraryName("JCudaRuntime-"
                    + JCudaVersion.get()));
            Path target = Path.of(System.getProperty("java.io.tmpdir"), file);
            if (Files.exists(target)) {
                return;
            }
            try (InputStream in = JCudaNatives.class.getResourceAsStream("/lib/" + file)) {
                if (in == null) {
                    return; // not packaged for this platform: JCuda says so
                }
                Path tmp = Files.createTempFile(target.getParent(), file, ".part");
                try {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                    try {
                        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                    } catch (AtomicMoveNotSupportedException | FileAlreadyExistsException e) {
                        // another rank put it there first, complete
                    }
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
        } catch (IOException | RuntimeException | LinkageError e) {
            // JCuda's own loader runs next
        }
    }
}
