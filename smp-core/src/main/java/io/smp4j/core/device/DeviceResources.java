package io.smp4j.core.device;

import ai.djl.ndarray.NDManager;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.exec.DeviceLink;
import io.smp4j.pipeline.exec.HostStaging;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A rank's device-to-device paths, made when first needed from what {@link GpuPeers} agreed: the stage link to the
 * pipeline neighbours it reaches and the gradient all-reduce of its data-parallel group when every member reaches every
 * other. Closing is collective over the world (CUDA leaves freeing memory another process maps undefined): every rank
 * unmaps its peers' buffers, all meet at a barrier, then each frees its own.
 */
public final class DeviceResources {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceResources.class);

    private final GpuPeers peers;
    private final Communicator world;
    private final Communicator pipelineGroup;
    private final Communicator dataParallelGroup;
    private final int gpu;
    private CudaIpcLink link;
    private CudaIpcAllReduce allReduce;
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

    private boolean reachesInPipeline(int peer) {
        return peers.reaches(world.rank(), pipelineGroup.worldRank(peer));
    }

    /** The device path to the pipeline neighbours this rank reaches, or null when it reaches neither. */
    public synchronized DeviceLink stageLink() {
        int me = pipelineGroup.rank();
        boolean any = me > 0 && reachesInPipeline(me - 1) || me + 1 < pipelineGroup.size() && reachesInPipeline(me + 1);
        if (gpu < 0 || !any) {
            return null;
        }
        if (link == null) {
            link = new CudaIpcLink(pipelineGroup, gpu, this::reachesInPipeline);
        }
        return link;
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

    /** Whether {@link #gradientAllReduce} averages on the GPUs (every pair of the data-parallel group reaches). */
    public boolean gradientsOnGpus() {
        return gpu >= 0 && peers.allReach(dataParallelGroup);
    }

    /** The data-parallel group's all-reduce on the GPUs, or null when not every pair of it reaches the other. */
    public synchronized CudaIpcAllReduce gradientAllReduce(NDManager manager) {
        if (gpu < 0 || !peers.allReach(dataParallelGroup)) {
            return null;
        }
        if (allReduce == null) {
            allReduce = new CudaIpcAllReduce(dataParallelGroup, gpu, manager);
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
            if (link != null) {
                link.unmap();
            }
            if (allReduce != null) {
                allReduce.unmap();
            }
            world.barrier();
            if (link != null) {
                link.free();
            }
            if (allReduce != null) {
                allReduce.free();
            }
        } catch (RuntimeException e) {
            // A peer gone (its job failed): the process ends, and the driver frees everything with it.
            LOG.warn("rank {}: device buffers not freed in order: {}", world.rank(), e.toString());
        }
        link = null;
        allReduce = null;
    }
}
