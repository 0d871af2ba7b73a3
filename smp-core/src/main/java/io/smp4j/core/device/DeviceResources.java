package io.smp4j.core.device;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.exec.DeviceLink;
import io.smp4j.pipeline.exec.HostStaging;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A rank's paths between GPUs of its host, made when first needed from what {@link GpuPeers} agreed: the stage link to
 * the pipeline neighbours it reaches (CUDA IPC or pinned host memory, per neighbour) and the gradient all-reduce
 * of its data-parallel group when every pair of it shares one kind of buffers. Closing is collective over the world (CUDA leaves freeing memory another process maps undefined): every rank
 * unmaps its peers' buffers, all meet at a barrier, then each frees its own.
 */
public final class DeviceResources {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceResources.class);

    private final GpuPeers peers;
    private final Communicator world;
    private final Communicator pipelineGroup;
    private final Communicator dataParallelGroup;
    private final int gpu;
    /** Stage links by the kind of buffers they use (at most two neighbours, so at most two links). */
    private final Map<PeerMemory, PeerLink> links = new LinkedHashMap<>();
    private PeerAllReduce allReduce;
    private CudaStaging staging;

    /**
     * @param gpu this rank's GPU, or -1 on the CPU
     */
    public DeviceResources(GpuPeers peers, Communicator world, Communicator pipelineGroup,
                           Communicator dataParallelGroup, int gpu) {
        this.peers = peers;
        this.world = world;
        this.pipelineGroup = pipelineGroup;
        this.dataParallelGroup = dataParallelGroup;
        this.gpu = gpu;
    }

    public GpuPeers peers() {
        return peers;
    }

    /** What this rank shares with pipeline group rank {@code peer}, or null. */
    private PeerMemory pathInPipeline(int peer) {
        return peers.path(world.rank(), pipelineGroup.worldRank(peer));
    }

    /** The path to the pipeline neighbours this rank reaches (each by its kind of buffers), or null for neither. */
    public synchronized DeviceLink stageLink() {
        int me = pipelineGroup.rank();
        if (gpu < 0) {
            return null;
        }
        for (int peer : new int[] {me - 1, me + 1}) {
            PeerMemory kind = peer < 0 || peer >= pipelineGroup.size() ? null : pathInPipeline(peer);
            if (kind != null) {
                links.computeIfAbsent(kind, k -> new PeerLink(pipelineGroup, gpu, p -> pathInPipeline(p) == k, k));
            }
        }
        if (links.isEmpty()) {
            return null;
        }
        if (links.size() == 1) {
            return links.values().iterator().next();
        }
        return new DeviceLink() { // one neighbour through CUDA IPC, the other through host memory
            private DeviceLink to(int peer) {
                return links.get(pathInPipeline(peer));
            }

            @Override
            public boolean reaches(int peer) {
                return pathInPipeline(peer) != null;
            }

            @Override
            public void send(NDList arrays, int peer, long slot, int tag, int ackTag, List<CommRequest> pending) {
                to(peer).send(arrays, peer, slot, tag, ackTag, pending);
            }

            @Override
            public NDList recv(NDManager scope, int peer, long slot, int tag, int ackTag) {
                return to(peer).recv(scope, peer, slot, tag, ackTag);
            }
        };
    }

    /** The host path's copies through pinned buffers on this rank's GPU, or null on the CPU. */
    public synchronized HostStaging hostStaging() {
        if (gpu < 0) {
            return null;
        }
        if (staging == null) {
            staging = new CudaStaging(gpu);
        }
        return staging;
    }

    /** How this rank's arrays cross to host memory and back: {@link #hostStaging} on a GPU, DJL's copies on the CPU. */
    public HostStaging hostCopies() {
        HostStaging s = hostStaging();
        return s == null ? HostStaging.DJL : s;
    }

    /** Whether {@link #gradientAllReduce} averages on the GPUs (every pair of the data-parallel group shares one kind). */
    public boolean gradientsOnGpus() {
        return gpu >= 0 && peers.allReach(dataParallelGroup);
    }

    /** The data-parallel group's all-reduce on the GPUs, or null when not every pair of it shares one kind of buffers. */
    public synchronized PeerAllReduce gradientAllReduce(NDManager manager) {
        PeerMemory kind = gpu < 0 ? null : peers.common(dataParallelGroup);
        if (kind == null) {
            return null;
        }
        if (allReduce == null) {
            allReduce = new PeerAllReduce(dataParallelGroup, gpu, manager, kind);
        }
        return allReduce;
    }

    /** Collective over the world (where any pair of ranks reaches another): unmaps, barrier, frees. */
    public synchronized void close() {
        if (staging != null) {
            staging.free();
            staging = null;
        }
        if (!peers.anyPair()) {
            return;
        }
        try {
            links.values().forEach(PeerLink::unmap);
            if (allReduce != null) {
                allReduce.unmap();
            }
            world.barrier();
            links.values().forEach(PeerLink::free);
            if (allReduce != null) {
                allReduce.free();
            }
        } catch (RuntimeException e) {
            // A peer gone (its job failed): the process ends, and the driver frees everything with it.
            LOG.warn("rank {}: device buffers not freed in order: {}", world.rank(), e.toString());
        }
        links.clear();
        allReduce = null;
    }
}
