package io.smp4j.core;

import ai.djl.Device;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.Topology;
import io.smp4j.comm.launch.Bootstrap;
import io.smp4j.comm.launch.LaunchInfo;
import io.smp4j.core.device.CudaEventClock;
import io.smp4j.core.device.CudaVisibility;
import io.smp4j.core.device.DeviceResources;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.core.device.Gpu;
import io.smp4j.core.device.GpuPeers;
import io.smp4j.core.device.GpuProbe;
import io.smp4j.core.device.JCudaProbe;
import io.smp4j.core.stage.StageContext;
import io.smp4j.pipeline.djl.TensorMemory;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.Schedules;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entry point, as SageMaker's {@code smp.init()}: validates the configuration against the launch (before any
 * MPI work, so every rank fails alike with the same message), joins the job, and builds the rank grid and its process
 * groups. Ranks: {@link #rank()} in the world, {@link #ppRank()} = stage, {@link #dpRank()} = model replica.
 *
 * <pre>{@code
 * try (Smp smp = Smp.init(SmpConfig.fromEnvironment())) {
 *     DistributedModel model = new DistributedModel(smp, block, manager);
 *     DistributedOptimizer opt = new DistributedOptimizer(model, Optimizer.sgd()...build());
 *     for (...) {
 *         StepOutput loss = smp.step(this, "trainStep", model, images, labels);
 *         opt.step();
 *     }
 * }
 * }</pre>
 */
public final class Smp implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Smp.class);

    private final SmpConfig config;
    private final LaunchInfo launch;
    private final Communicator world;
    private final Topology topology;
    private final Communicator pipelineGroup;
    private final Communicator dataParallelGroup;
    private volatile Timeline timeline;
    private DeviceSelector.Selection device = new DeviceSelector.Selection(Device.cpu(), null, "not selected");
    private GpuProbe probe;
    private DeviceResources deviceResources;
    /** The training and evaluation schedules, each made when first asked for. */
    private final StepSchedules schedules;

    private Smp(SmpConfig config, LaunchInfo launch, Communicator world) {
        this.config = config;
        this.launch = launch;
        this.world = world;
        this.topology = new Topology(world.size(), config.partitions(), config.placementStrategy());
        int r = world.rank();
        // Every rank splits twice, in the same order: first the pipeline groups, then the data-parallel groups.
        this.pipelineGroup = world.split(topology.dpRank(r), topology.ppRank(r));
        this.dataParallelGroup = world.split(topology.ppRank(r), topology.dpRank(r));
        this.schedules = new StepSchedules(config, topology.ppSize(), r == 0);
    }

    /** Joins the job this process was launched into, with {@code SMP_CONFIG}'s configuration. */
    public static Smp init() {
        return init(SmpConfig.fromEnvironment());
    }

    public static Smp init(SmpConfig config) {
        LaunchInfo launch = LaunchInfo.fromEnvironment(System.getenv());
        validate(config, launch.size(), launch.localSize());
        String link = GpuPeers.mode();
        if ("cpu".equals(DeviceSelector.request())) {
            CudaVisibility.hideGpus(); // before anything starts CUDA: PyTorch's seeding would open every GPU
        }
        // Before any communication: too many processes for this host's GPUs fails here, on every rank.
        JCudaProbe probe = new JCudaProbe();
        DeviceSelector.Selection device = DeviceSelector.select(launch.localRank(), launch.localSize(), probe,
                DeviceSelector.request(), config.processesPerGpu());
        Communicator world = Bootstrap.init(launch, CommOptions.fromSystem());
        Smp smp = new Smp(config, launch, world);
        smp.device = device;
        smp.probe = probe;
        smp.deviceResources = new DeviceResources(GpuPeers.negotiate(world, device, link), world, smp.pipelineGroup,
                smp.dataParallelGroup, device.gpu() == null ? -1 : device.gpu().index());
        if (device.gpu() != null) {
            LOG.info("rank {}: {}", world.rank(), device.reason());
            if (TensorMemory.available()) {
                // DJL reads ai.djl.pytorch.cudnn_benchmark only when its engine starts, maybe before this call.
                TensorMemory.setCudnnBenchmark(config.cudnnBenchmark());
            }
        }
        if (world.rank() == 0) {
            smp.topology.describe().forEach(line -> LOG.info("{}", line));
        }
        return smp;
    }

    /** The layout checks of {@link #init}, as a pure function of the config and the launch. */
    public static void validate(SmpConfig config, int worldSize, int localSize) {
        new Topology(worldSize, config.partitions(), config.placementStrategy());
        int replicas = worldSize / config.partitions();
        if (replicas > 1 && !config.ddp()) {
            throw new IllegalArgumentException("world size " + worldSize + " with partitions " + config.partitions()
                    + " makes " + replicas + " model replicas, which needs ddp: true (data parallelism); set ddp "
                    + "true, or partitions " + worldSize + ", or start " + config.partitions() + " processes");
        }
        if (config.processesPerHost() > 0 && config.processesPerHost() != localSize) {
            throw new IllegalArgumentException("mpi.processes_per_host is " + config.processesPerHost() + " but "
                    + localSize + " processes were started on this host; launch with -npernode "
                    + config.processesPerHost() + " (mpirun) or change processes_per_host");
        }
    }

    public SmpConfig config() {
        return config;
    }

    public Topology topology() {
        return topology;
    }

    public int rank() {
        return world.rank();
    }

    public int size() {
        return world.size();
    }

    public int localRank() {
        return launch.localRank();
    }

    public int localSize() {
        return launch.localSize();
    }

    /** This rank's stage (SageMaker {@code pp_rank} / {@code mp_rank}). */
    public int ppRank() {
        return topology.ppRank(rank());
    }

    public int ppSize() {
        return topology.ppSize();
    }

    /** This rank's model replica (SageMaker {@code dp_rank}). */
    public int dpRank() {
        return topology.dpRank(rank());
    }

    public int dpSize() {
        return topology.dpSize();
    }

    public Communicator world() {
        return world;
    }

    /** The ranks holding this rank's model replica, ranked by stage (SageMaker {@code MP_GROUP}). */
    public Communicator pipelineGroup() {
        return pipelineGroup;
    }

    /** The ranks holding this rank's stage, ranked by replica (SageMaker {@code DP_GROUP}). */
    public Communicator dataParallelGroup() {
        return dataParallelGroup;
    }

    public void barrier() {
        world.barrier();
    }

    /**
     * The device of this rank: on a host with GPUs, GPU {@code localRank()} (one process per GPU, made current with
     * cudaSetDevice); otherwise the CPU. {@code smp.device=cpu} forces the CPU. Create the model's NDManager on it.
     */
    public Device device() {
        return device.device();
    }

    /**
     * Waits until the work this process queued on its GPU has finished (nothing to wait for on the CPU): before a
     * clock is read for GPU work, since kernel launches return before the kernels run.
     */
    public void synchronize() {
        if (device.gpu() != null) {
            probe.synchronize();
        }
    }

    /** The device choice with its GPU (null on the CPU) and the reason, as logged at start-up. */
    public DeviceSelector.Selection deviceSelection() {
        return device;
    }

    /**
     * Collective over the world: starts this rank's {@link Timeline} (not yet recording), its clock origin taken as
     * the ranks leave a barrier. Steps and the optimizer then record into it while it records.
     */
    public Timeline startTimeline() {
        world.barrier();
        timeline = new Timeline(rank(), System.nanoTime());
        return timeline;
    }

    /** The timeline of {@link #startTimeline()}, or null. */
    public Timeline timeline() {
        return timeline;
    }

    /** One name per world rank for timelines and logs, e.g. {@code rank 2 (stage 0, replica 1)}. */
    public List<String> rankNames() {
        List<String> names = new ArrayList<>();
        for (int r = 0; r < size(); r++) {
            names.add("rank " + r + " (stage " + topology.ppRank(r) + ", replica " + topology.dpRank(r) + ")");
        }
        return names;
    }

    public Duration timeout() {
        return world.timeout();
    }

    /**
     * Runs the {@link Step}-annotated method {@code method} of {@code target} as one pipelined (and data-parallel)
     * step: NDArray/NDList arguments are cut into the configured microbatches (dimension 0, or {@link SplitAxis};
     * {@link NotSplit} passes them whole), other arguments are passed as they are, and the body runs once per
     * microbatch as the schedule requires. Returns what the body returned, per microbatch, the same on every rank of
     * the pipeline group.
     */
    public StepOutput step(Object target, String method, Object... args) {
        int m = config.microbatches();
        StepRunner.Environment env = new StepRunner.Environment(m, schedules.training(), schedules.evaluation(),
                pipelineGroup);
        try {
            return StepRunner.run(env, target, method, args);
        } catch (RuntimeException e) {
            if (device().isGpu() && DeviceMemoryException.isOutOfMemory(e)) {
                Gpu gpu = deviceSelection().gpu();
                throw DeviceMemoryException.of(e, rank(), ppRank(), ppSize(), device() + (gpu == null ? ""
                        : " (" + gpu.name() + ")"));
            }
            throw e;
        }
    }

    /** Device-to-device paths between this rank's GPU and its peers' (CUDA IPC on one host), where they reach. */
    public DeviceResources deviceResources() {
        return deviceResources;
    }

    private StageContext stageContext;

    /**
     * The schedule a training step runs: the hand-written one of {@code schedule_file}, else {@code pipeline}'s (both
     * checked by the simulator).
     */
    public Schedule trainingSchedule() {
        return schedules.training();
    }

    /** What partitioning and building this rank's stage use of the job (see {@link StageContext}). */
    public synchronized StageContext stageContext() {
        if (stageContext == null) {
            SmpConfig c = config;
            stageContext = new StageContext(world, pipelineGroup, dataParallelGroup, topology, deviceResources(),
                    deviceSelection().gpu(), new StageContext.Settings(c.microbatches(),
                    c.scheduleFile().isEmpty() && Schedules.runsAhead(c.pipeline()),
                    c.autoPartition(), c.memoryWeight(), c.defaultPartition(), c.activeMicrobatches(),
                    c.virtualStages(), c.activationCheckpointing(), c.traceDevice(), c.processesPerGpu(),
                    c.memoryBudgetMb()), Timeline.actions(this::timeline), this::synchronize,
                    CudaEventClock.orSynchronizing(device.gpu(), this::synchronize));
        }
        return stageContext;
    }

    @Override
    public void close() {
        if (deviceResources != null) {
            deviceResources.close();
        }
        world.close();
    }

    @Override
    public String toString() {
        return "Smp[rank " + rank() + "/" + size() + ", stage " + ppRank() + "/" + ppSize() + ", replica " + dpRank()
                + "/" + dpSize() + ", " + config + "]";
    }
}
