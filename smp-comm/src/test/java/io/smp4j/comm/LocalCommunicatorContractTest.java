package io.smp4j.comm;

import io.smp4j.comm.local.LocalCluster;
import java.time.Duration;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/** The contract on the in-JVM transport, for groups of 1 to 5 ranks. */
class LocalCommunicatorContractTest {
    @TestFactory
    Stream<DynamicTest> contract() {
        return IntStream.rangeClosed(1, 5).boxed().flatMap(size ->
                CommunicatorContract.scenarios().entrySet().stream().map(e ->
                        DynamicTest.dynamicTest(e.getKey() + " on " + size + " ranks",
                                () -> new LocalCluster(size, Duration.ofSeconds(20)).run(c -> e.getValue().run(c)))));
    }
}
