package io.lockstep.worker.device;

import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/** A worker's device from the GPUs Spark assigned its task, and the threads bound to it. */
class DeviceTest {
    @Test
    void noGpuAssignedMeansTheCpu() {
        Device none = Device.forTask(0, new String[0]);
        assertNull(none.gpu());
        assertFalse(none.usesGpu());
        assertEquals("cpu", none.describe());
        assertEquals(none, Device.forTask(0, null));
    }

    @Test
    void anAssignedGpuIsRecordedAndOnTheCpuBackendSaidToBeUnused() {
        Device d = Device.forTask(1, new String[]{"3"});
        assertEquals("3", d.gpu());
        assertEquals("cpu", d.backend()); // the tests run on nd4j-native
        assertFalse(d.usesGpu());
        assertEquals("cpu (gpu 3 assigned, backend cpu)", d.describe());
        assertEquals("1", Device.forTask(0, new String[]{"1", "2"}).gpu(), "one worker per GPU: the first");
    }

    @Test
    void anAddressThatIsNotAnOrdinalIsRefusedNamingRankAndScript() {
        var e = assertThrows(IllegalArgumentException.class, () -> Device.forTask(2, new String[]{"GPU-7f3a"}));
        assertTrue(e.getMessage().startsWith("rank 2: GPU address 'GPU-7f3a'"), e.getMessage());
        assertTrue(e.getMessage().contains("spark.executor.resource.gpu.discoveryScript"), e.getMessage());
    }

    @Test
    void thePrefetchThreadBindsBeforeItMakesABatch() throws Exception {
        Device d = Device.forTask(0, new String[]{"1"});
        d.bindCurrentThread();
        assertSame(d, Device.boundToCurrentThread());
        AtomicReference<Device> seenByPrefetch = new AtomicReference<>();
        AtomicReference<String> prefetchThread = new AtomicReference<>();
        DataPartition rows = new DataPartition(new float[8], new float[8], 8, 1, 1);
        try (BatchSource batches = new BatchSource(rows, 4, 2, 1, false, 0, 0, () -> {
            d.bindCurrentThread();
            seenByPrefetch.set(Device.boundToCurrentThread());
            prefetchThread.set(Thread.currentThread().getName());
        })) {
            Batch first = batches.next();
            assertEquals(4, first.size());
        }
        assertSame(d, seenByPrefetch.get());
        assertEquals("lockstep-prefetch", prefetchThread.get());
    }
}
