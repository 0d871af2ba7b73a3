package io.smp4j.comm;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/** Which machine a process runs on, for deciding what ranks can share (shared memory, CUDA IPC). */
public final class HostIdentity {
    private HostIdentity() {
    }

    /**
     * Host name plus kernel boot id plus network namespace: two containers with one host name do not share /dev/shm,
     * and ranks in separate network namespaces (how MultiHostTest builds two hosts on one machine) are kept apart
     * like hosts, so that nothing passes between them but the network.
     */
    public static String of() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "unknown";
        }
        String boot = "";
        try {
            boot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim();
        } catch (IOException | RuntimeException e) {
            // not Linux: the host name alone decides
        }
        String net = "";
        try {
            net = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
        } catch (IOException | RuntimeException e) {
            // no namespaces to tell apart
        }
        return host + "/" + boot + "/" + net;
    }
}
