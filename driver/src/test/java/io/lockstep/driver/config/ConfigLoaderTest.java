package io.lockstep.driver.config;

import io.lockstep.worker.optim.OptimizerSpec;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ConfigLoaderTest extends ConfigFiles {
    @Test
    void theExampleConfigLoadsWithItsDocumentedValues() {
        JobConfig c = ConfigLoader.load(Path.of("..", "examples", "mnist-mlp.yaml"), List.of());
        assertEquals(List.of(256, 128), c.model().hidden());
        assertEquals(OptimizerSpec.Type.ADAM, c.optimizer().type());
        assertEquals(0.001, c.optimizer().lr());
        assertEquals(64, c.batchSize());
        assertEquals(2, c.workers());
        assertTrue(c.shuffle());
        assertTrue(c.epochs() >= 1 && c.epochs() <= 5);
        assertEquals(Download.MNIST, c.data().download());
    }

    @Test
    void overridesReachNestedKeysListsAndNumbers() throws IOException {
        JobConfig c = ConfigLoader.load(yaml(MINIMAL + "epochs: 3\n"),
            List.of("epochs=5", "model.hidden=[512, 64, 32]", "optimizer.lr=0.05", "ps.transport=ipc",
                "spark.master=local[3]", "spark.conf.spark.executor.memory=2g", "shuffle=false"));
        assertEquals(5, c.epochs());
        assertEquals(List.of(512, 64, 32), c.model().hidden());
        assertEquals(0.05, c.optimizer().lr());
        assertEquals(Transport.IPC, c.ps().transport());
        assertEquals("local[3]", c.spark().master());
        assertFalse(c.shuffle());
        assertEquals("2g", c.spark().conf().get("spark.executor.memory"));
    }

    @Test
    void unknownKeysAreRejectedByName() throws IOException {
        var e = assertThrows(ConfigLoader.ConfigException.class,
            () -> ConfigLoader.load(yaml(MINIMAL + "optimizer: {type: adam, learning_rate: 0.1}\n"), List.of()));
        assertTrue(e.getMessage().contains("unknown config key 'optimizer.learning_rate'"), e.getMessage());
        e = assertThrows(ConfigLoader.ConfigException.class,
            () -> ConfigLoader.load(yaml(MINIMAL), List.of("epoch=3")));
        assertTrue(e.getMessage().contains("unknown config key 'epoch'"), e.getMessage());
    }

    @Test
    void badValuesNameTheirKey() throws IOException {
        assertMessage("config key 'epochs'", MINIMAL + "epochs: many\n");
        assertMessage("config key 'workers' must be >= 1", MINIMAL + "workers: 0\n");
        assertMessage("config key 'ps.transport' must be one of auto, udp, ipc", MINIMAL + "ps: {transport: tcp}\n");
        assertMessage("config key 'optimizer.step_placement' must be one of server, replica, auto, got 'shards'",
            MINIMAL + "optimizer: {step_placement: shards}\n");
        assertMessage("config key 'ps.wire' must be one of fp32, bf16, fp16, got 'fp8'", MINIMAL + "ps: {wire: fp8}\n");
        assertMessage("optimizer.type: unknown 'adagradx'", MINIMAL + "optimizer: {type: adagradx}\n");
        assertMessage("loss: unknown 'hinge'", MINIMAL + "loss: hinge\n");
        assertMessage("config key 'data.train' is required", "data: {test: b.csv}\n");
        assertMessage("model.path is required when model.type is json", MINIMAL + "model: {type: json}\n");
        assertMessage("config key 'ps.term_length' must be a power of two >= 8 x ps.mtu", MINIMAL
            + "ps: {term_length: 65536}\n");
    }

    @Test
    void aConfigIsImmutableAndCheckedByTheFileRules() throws IOException {
        JobConfig original = ConfigLoader.load(yaml(MINIMAL + "model: {hidden: [8, 4]}\nepochs: 3\n"), List.of());
        JobConfig changed = original.with("epochs", 9).with("model.hidden", List.of(1));
        assertEquals(3, original.epochs());
        assertEquals(List.of(8, 4), original.model().hidden());
        assertEquals(9, changed.epochs());
        assertEquals(List.of(1), changed.model().hidden());
        assertThrows(UnsupportedOperationException.class, () -> original.model().hidden().set(0, 99));
        JobConfig none = original.with("workers", 0); // bound (the type is right), refused by the rules
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> ConfigLoader.checked(none, true));
        assertTrue(e.getMessage().contains("config key 'workers' must be >= 1"), e.getMessage());
        var typed = assertThrows(ConfigLoader.ConfigException.class, () -> original.with("workers", "two"));
        assertTrue(typed.getMessage().contains("workers"), typed.getMessage());
    }

    @Test
    void missingFileIsNamed() {
        var e = assertThrows(ConfigLoader.ConfigException.class,
            () -> ConfigLoader.load(dir.resolve("nope.yaml"), List.of()));
        assertTrue(e.getMessage().contains("nope.yaml"));
    }

    void assertMessage(String expected, String text) throws IOException {
        Path p = yaml(text);
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> ConfigLoader.load(p, List.of()));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
