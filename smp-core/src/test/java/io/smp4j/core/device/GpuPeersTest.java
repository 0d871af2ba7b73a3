package io.smp4j.core.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.local.LocalCluster;
import io.smp4j.pipeline.wire.TensorCodec;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The device paths' decisions and formats, without a GPU (their data movement is tested in GpuTest). */
class GpuPeersTest {
    @Test
    void pairsReachOnlyBothWaysAndGroupsNeedEveryPairOfOneKind() {
        PeerMemory host = new PinnedHostMemory();
        PeerMemory[][] path = new PeerMemory[3][3];
        path[0][1] = PeerMemory.CUDA_IPC;
        path[1][0] = PeerMemory.CUDA_IPC;
        GpuPeers p = new GpuPeers(path);
        assertTrue(p.reaches(0, 1) && p.reaches(1, 0) && p.anyPair());
        assertFalse(p.reaches(0, 2) || p.reaches(0, 0));
        assertEquals(List.of("rank 0 <-> rank 1: CUDA IPC"), p.describe());
        assertFalse(GpuPeers.none(4).anyPair());
        LocalCluster cluster = new LocalCluster(3, CommOptions.defaults().withTimeout(Duration.ofSeconds(20)));
        cluster.run(world -> {
            assertNull(p.common(world), "rank 2 reaches no one");
            path[0][2] = host;
            path[2][0] = host;
            path[1][2] = host;
            path[2][1] = host;
            assertNull(p.common(world), "two kinds in one group: no common all-reduce");
            assertEquals(host, p.path(1, 2));
        });
        PeerMemory[][] all = new PeerMemory[2][2];
        all[0][1] = host;
        all[1][0] = host;
        new LocalCluster(2, CommOptions.defaults().withTimeout(Duration.ofSeconds(20)))
                .run(world -> assertEquals(host, new GpuPeers(all).common(world)));
    }

    @Test
    void cpuRanksReachNoOneAndAgree() {
        LocalCluster cluster = new LocalCluster(3, CommOptions.defaults().withTimeout(Duration.ofSeconds(20)));
        cluster.run(world -> {
            GpuPeers p = GpuPeers.negotiate(world, new DeviceSelector.Selection(Device.cpu(), null, "cpu"), "auto");
            assertFalse(p.anyPair());
            assertFalse(p.allReach(world));
        });
    }

    @Test
    void unknownLinkModeIsRefusedWithTheAllowedValues() {
        System.setProperty(GpuPeers.MODE_PROPERTY, "nvlink");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, GpuPeers::mode);
            assertEquals("smp.device.link is 'nvlink'; allowed: auto (GPUs of one host exchange tensors through CUDA "
                    + "IPC, else through pinned host memory), host (through pinned host memory mapped by both ranks on "
                    + "one host), communicator (always through the communicator)", e.getMessage());
        } finally {
            System.clearProperty(GpuPeers.MODE_PROPERTY);
        }
        assertEquals("auto", GpuPeers.mode());
    }

    @Test
    void announcementsRoundTripAndLayoutsAlign() {
        TensorCodec.Header h = new TensorCodec.Header(List.of(DataType.FLOAT32, DataType.INT64, DataType.FLOAT32),
                List.of(new Shape(3, 5), new Shape(7), new Shape(0, 4)), 0);
        long[] at = PeerLink.layout(h);
        assertArrayEquals(new long[] {0, 256, 512, 512}, at);
        byte[] handle = new byte[Cuda.HANDLE_BYTES];
        for (int i = 0; i < handle.length; i++) {
            handle[i] = (byte) (i * 7);
        }
        byte[] buf = new byte[PeerLink.MAX_MESSAGE];
        int n = PeerLink.encode(buf, h, 3, handle);
        PeerLink.Announcement a = PeerLink.Announcement.decode(buf, n);
        assertEquals(h.types(), a.header().types());
        assertEquals(h.shapes(), a.header().shapes());
        assertEquals(3, a.generation());
        assertArrayEquals(handle, a.handle());
    }
}
