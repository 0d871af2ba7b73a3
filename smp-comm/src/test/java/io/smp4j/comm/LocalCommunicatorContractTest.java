package io.smp4j.comm;

import io.smp4j.comm.local.LocalCluster;
import java.time.Duration;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The contract on the in-JVM transport, for groups of 1 to 5 ranks, with the ring all-reduce and with the
 * shared-memory one (threads map the /dev/shm file as processes would).
 */
class LocalCommunicatorContractTest {
    @TestFactory
    Stream<DynamicTest> contract() {
        return Stream.of(AllReduceAlgorithm.RING, AllReduceAlgorithm.SHM).flatMap(algorithm ->
                IntStream.rangeClosed(1, 5).boxed().flatMap(size ->
                        CommunicatorContract.scenarios().entrySet().stream().map(e ->
                                DynamicTest.dynamicTest(e.getKey() + " on " + size + " ranks, " + algorithm,
                                        () -> new LocalCluster(size, CommOptions.defaults()
                                                .withTimeout(Duration.ofSeconds(20)).withAllReduce(algorithm))
                                                .run(c -> e.getValue().run(c))))));
    }
}
