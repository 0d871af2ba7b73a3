package io.smp4j.comm;

import io.smp4j.comm.launch.Bootstrap;
import java.util.List;
import java.util.Map;

/**
 * A rank process for multi-process tests: joins the job, runs the named contract scenarios (all by default) and
 * prints {@code SCENARIO name OK} or {@code SCENARIO name FAIL reason} for each; exits 1 if any failed.
 */
public final class ScenarioMain {
    private ScenarioMain() {
    }

    public static void main(String[] args) {
        int failed = 0;
        try (Communicator world = Bootstrap.init()) {
            Map<String, CommunicatorContract.Scenario> all = CommunicatorContract.scenarios();
            List<String> names = args.length == 0 ? List.copyOf(all.keySet()) : List.of(args);
            for (String name : names) {
                try {
                    all.get(name).run(world);
                    System.out.println("SCENARIO " + name + " OK");
                } catch (Throwable t) {
                    failed++;
                    System.out.println("SCENARIO " + name + " FAIL " + t);
                    t.printStackTrace(System.out);
                }
            }
        }
        System.out.flush();
        Runtime.getRuntime().halt(failed == 0 ? 0 : 1);
    }
}
