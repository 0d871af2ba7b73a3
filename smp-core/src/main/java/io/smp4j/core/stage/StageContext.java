package io.smp4j.core.stage;

import io.smp4j.comm.Communicator;
import io.smp4j.comm.Topology;
import io.smp4j.core.device.DeviceResources;
import io.smp4j.core.device.Gpu;
import io.smp4j.pipeline.exec.ActionListener;
import io.smp4j.pipeline.exec.DeviceClock;

/**
 * What partitioning and building a rank's stage need from the job, and nothing else: the groups, the layout, the
 * device, the settings that shape a plan and an executor, and where executed actions are reported. {@code Smp} makes
 * one; tests can make their own.
 *
 * @param world             every rank
 * @param pipelineGroup     this rank's pipeline (rank in it = stage)
 * @param dataParallelGroup the replicas of this rank's stage
 * @param topology          which rank holds which stage of which replica
 * @param devices           this rank's device paths (CUDA IPC, pinned staging; nothing on the CPU)
 * @param gpu               this rank's GPU, or null on the CPU
 * @param settings          the configuration values partitioning uses
 * @param actions           receives every executed action (the timeline), timed by {@code marks}
 * @param synchronize       waits for the device's queued work
 * @param marks             times actions on the device (on a GPU: events queued with the kernels)
 */
public record StageContext(Communicator world, Communicator pipelineGroup, Communicator dataParallelGroup,
                           Topology topology, DeviceResources devices, Gpu gpu, Settings settings,
                           ActionListener actions, Runnable synchronize, DeviceClock marks) {
    /**
     * The configuration values partitioning uses (see {@code SmpConfig} for each); {@code runAhead}: the schedule may
     * run a forward ahead while a gradient is late (SageMaker's interleaved pipeline, not a hand-written schedule).
     */
    public record Settings(int microbatches, boolean runAhead, boolean autoPartition, double memoryWeight,
                           int defaultPartition, int activeMicrobatches, int virtualStages,
                           boolean activationCheckpointing, String traceDevice, int processesPerGpu,
                           double memoryBudgetMb) {
    }

    public int rank() {
        return world.rank();
    }

    public int ppRank() {
        return pipelineGroup.rank();
    }

    public int ppSize() {
        return pipelineGroup.size();
    }

    public int dpSize() {
        return dataParallelGroup.size();
    }
}
