package io.lockstep.api;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.Specs;
import io.lockstep.driver.config.StepPlacement;
import io.lockstep.driver.config.Task;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.train.Every;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TrainingConfigTest {
    @TempDir
    Path dir;

    @Test
    void theTypedBuilderFillsTheSameConfigAsAYaml() throws IOException {
        TrainingConfig built = TrainingConfig.builder()
            .task(Task.BINARY).workers(3).batchSize(16).epochs(4).hidden(32, 8)
            .optimizer(OptimizerSpec.builder(OptimizerSpec.Type.SGD, 0.1).momentum(0.9))
            .labelColumn("y").earlyStopping("loss", 2).validationEvery(new Every(50, Every.Unit.STEPS))
            .wire(WireFormat.BF16).shardPlacement(ShardPlacement.DRIVER).stepPlacement(StepPlacement.REPLICA)
            .build();
        Path yaml = dir.resolve("job.yaml");
        Files.writeString(yaml, """
            task: binary
            workers: 3
            batch_size: 16
            epochs: 4
            model: {hidden: [32, 8]}
            optimizer: {type: sgd, lr: 0.1, momentum: 0.9, step_placement: replica}
            data: {label_column: y}
            early_stopping: {metric: loss, patience: 2}
            validation: {every: 50 steps}
            ps: {wire: bf16, shard_placement: driver}
            """);
        TrainingConfig read = TrainingConfig.fromYaml(yaml);
        JobConfig c = built.toJobConfig();
        // the optimizer as the trainer takes it (the builder's spec spells out the defaults the YAML leaves unset)
        assertEquals(Specs.optimizer(read.toJobConfig().optimizer()), Specs.optimizer(c.optimizer()));
        var fromYaml = ConfigLoader.toTree(read.toJobConfig());
        var fromBuilder = ConfigLoader.toTree(c);
        fromYaml.remove("optimizer");
        fromBuilder.remove("optimizer");
        assertEquals(fromYaml, fromBuilder);
        assertEquals(Task.BINARY, c.task());
        assertEquals(DataFormat.PARQUET, c.data().format()); // datasets are read by column
        assertEquals(List.of(32, 8), c.model().hidden());
        assertEquals(OptimizerSpec.Type.SGD, c.optimizer().type());
        assertEquals(0.9, c.optimizer().momentum());
    }

    @Test
    void aBuiltConfigNeverChanges() {
        TrainingConfig.Builder b = TrainingConfig.builder().workers(2);
        TrainingConfig two = b.build();
        b.workers(5);
        JobConfig seven = two.toJobConfig().with("workers", 7); // a changed copy; the config itself is immutable
        assertEquals(7, seven.workers());
        assertEquals(2, two.toJobConfig().workers());
        assertEquals(5, b.build().toJobConfig().workers());
        assertEquals(9, two.toBuilder().epochs(9).build().toJobConfig().epochs());
    }

    @Test
    void aBadMtuGivesOneMessageFromTheBuilderTheYamlAndSet() throws IOException {
        String expected = "config key 'ps.mtu' must be a multiple of 32 in [1024, 65504], got 5000";
        var built = assertThrows(ConfigLoader.ConfigException.class, () -> TrainingConfig.builder().mtu(5000).build());
        assertTrue(built.getMessage().endsWith(expected), built.getMessage());
        var set = assertThrows(ConfigLoader.ConfigException.class,
            () -> TrainingConfig.builder().set("ps.mtu=5000").build());
        assertEquals("TrainingConfig: " + expected, set.getMessage());
        Path yaml = dir.resolve("job.yaml");
        Files.writeString(yaml, "ps: {mtu: 5000}\n");
        assertEquals(yaml + ": " + expected, assertThrows(ConfigLoader.ConfigException.class,
            () -> TrainingConfig.fromYaml(yaml)).getMessage());
        assertEquals(yaml + ": " + expected, assertThrows(ConfigLoader.ConfigException.class,
            () -> TrainingConfig.fromYaml(dir.resolve("job.yaml"), "ps.mtu=5000")).getMessage());
    }

    @Test
    void anyKeyGoesInAsSetTakesItOldNamesIncluded() {
        JobConfig c = TrainingConfig.builder().set("ps.placement=executors").set("ps.transport=udp")
            .set("spark.conf.spark.executor.memory=2g").build().toJobConfig();
        assertEquals(ShardPlacement.EXECUTORS, c.ps().shardPlacement());
        assertEquals("2g", c.spark().conf().get("spark.executor.memory"));
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> TrainingConfig.builder().set("ps.wire=fp8"));
        assertEquals("TrainingConfig: config key 'ps.wire' must be one of fp32, bf16, fp16, got 'fp8'", e.getMessage());
    }
}
