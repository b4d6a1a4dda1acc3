package io.lockstep.driver.config;

import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.model.Loss;
import io.lockstep.worker.model.ModelType;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.train.Every;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Choices are typed where the text is read; each rule is stated once; the renamed keys still work, warned once. */
class TypedConfigTest extends ConfigFiles {
    @Test
    void choicesAreTypedWhenRead() throws IOException {
        JobConfig c = ConfigLoader.load(yaml(MINIMAL + "task: Binary\nps: {wire: BF16, transport: udp,"
                + " shard_placement: executors}\noptimizer: {step_placement: replica, schedule: {kind: cosine}}\n"
                + "validation: {every: 200 steps}\ncheckpoint: {every: 2, dir: ck}\non_non_finite: skip\n"
                + "model: {type: LeNet, activation: tanh}\nloss: mcxent\nresume: Latest\n"), List.of("data.download=mnist"));
        assertEquals(Task.BINARY, c.task());
        assertEquals(WireFormat.BF16, c.ps().wire());
        assertEquals(Transport.UDP, c.ps().transport());
        assertEquals(ShardPlacement.EXECUTORS, c.ps().shardPlacement());
        assertEquals(StepPlacement.REPLICA, c.optimizer().stepPlacement());
        assertEquals(ScheduleSpec.Kind.COSINE, c.optimizer().schedule().kind());
        assertEquals(new Every(200, Every.Unit.STEPS), c.validation().every());
        assertEquals(new Every(2, Every.Unit.EPOCHS), c.checkpoint().every());
        assertEquals(OnNonFinite.SKIP, c.onNonFinite());
        assertNull(c.checkpoint().mode()); // what the metric means
        assertEquals(ModelType.LENET, c.model().type());
        assertEquals(Activation.TANH, c.model().activation());
        assertEquals(Loss.CROSS_ENTROPY, c.loss()); // DL4J's name read as the config's
        assertEquals(ResumeFrom.LATEST, c.resume());
        assertEquals(Download.MNIST, c.data().download());
        assertEquals("/ck/step-9.ckpt", ConfigLoader.load(yaml(MINIMAL), List.of("resume=/ck/step-9.ckpt")).resume().path());
        JobConfig copy = ConfigLoader.checked(c, true); // written back under their config names, read again
        assertEquals(WireFormat.BF16, copy.ps().wire());
        assertEquals(new Every(200, Every.Unit.STEPS), copy.validation().every());
        assertEquals(StepPlacement.REPLICA, copy.optimizer().stepPlacement());
    }

    @Test
    void aBadChoiceNamesTheFileTheKeyAndTheValue() throws IOException {
        String file = dir.resolve("job.yaml").toString();
        assertEquals(file + ": config key 'ps.wire' must be one of fp32, bf16, fp16, got 'fp8'",
            error(MINIMAL + "ps: {wire: fp8}\n"));
        assertEquals(file + ": config key 'ps.wire' must be one of fp32, bf16, fp16, got 'fp8'",
            error(MINIMAL, "ps.wire=fp8"));
        assertEquals(file + ": config key 'ps.shard_placement' must be one of auto, driver, executors, got 'gpu'",
            error(MINIMAL, "ps.shard_placement=gpu"));
        assertEquals(file + ": config key 'validation.every' must be N, 'N epochs' or 'N steps', got 'often'",
            error(MINIMAL + "validation: {every: often}\n"));
        assertEquals("config key 'ps.wire' is required", error(MINIMAL + "ps: {wire: ~}\n"));
        assertEquals(file + ": config key 'early_stopping.mode' must be one of min, max, got 'up'",
            error(MINIMAL, "early_stopping.mode=up"));
        assertEquals(file + ": model.type must be one of mlp, lenet, json, factory, got 'resnet'",
            error(MINIMAL, "model.type=resnet"));
        assertEquals(file + ": model.activation: unknown 'rectifier' (relu, tanh, sigmoid, ...)",
            error(MINIMAL, "model.activation=rectifier"));
        assertEquals(file + ": loss: unknown 'hinge' (cross_entropy, binary_cross_entropy, mse, mae)",
            error(MINIMAL, "loss=hinge"));
        assertEquals(file + ": config key 'data.download' must be one of mnist, got 'kaggle'",
            error(MINIMAL, "data.download=kaggle"));
        assertEquals(file + ": config key 'resume' must be latest or the path of a checkpoint file, got ''",
            error(MINIMAL, "resume="));
    }

    @Test
    void theMtuRuleIsTheParameterServersStatedOnce() throws IOException {
        String expected = "config key 'ps.mtu' " + ExchangeRules.mtuProblem(5000);
        assertEquals("config key 'ps.mtu' must be a multiple of 32 in [1024, 65504], got 5000", expected);
        String file = dir.resolve("job.yaml") + ": "; // checked where the value is read: the file is named
        assertEquals(file + expected, error(MINIMAL + "ps: {mtu: 5000}\n"));
        assertEquals(file + expected, error(MINIMAL, "ps.mtu=5000"));
        assertEquals(Mtu.AUTO, ConfigLoader.load(yaml(MINIMAL), List.of()).ps().mtu()); // the default
        assertEquals(file + "config key 'ps.mtu' must be auto or a number of bytes, got 'big'",
            error(MINIMAL, "ps.mtu=big"));
    }

    @Test
    void portRangesAreParsedAndMustHoldAJvmsPorts() throws IOException {
        assertEquals(io.lockstep.ps.media.PortRange.AUTO, ConfigLoader.load(yaml(MINIMAL), List.of()).ps().ports());
        assertEquals(new io.lockstep.ps.media.PortRange(45000, 45099),
            ConfigLoader.load(yaml(MINIMAL), List.of("ps.ports=45000-45099")).ps().ports());
        String file = dir.resolve("job.yaml") + ": ";
        assertEquals(file + "config key 'ps.ports' must be auto or a range first-last (e.g. 45000-45099), got 'many'",
            error(MINIMAL, "ps.ports=many"));
        assertEquals("config key 'ps.ports' holds 8 ports but a JVM can need 9 (with 2 shards: 2 per shard and 2 for"
            + " the all-gather where the shards run, 1 per shard and 1 more where workers receive), and each JVM on a"
            + " host takes its own: widen ps.ports", error(MINIMAL, "ps.ports=45000-45007", "ps.shards=2"));
    }

    @Test
    void crossKeyRulesAreStatedOnce() throws IOException {
        assertEquals("config key 'ps.shard_placement' is executors, but "
                + ExchangeRules.executorShardsProblem(ExchangeSpec.Transport.IPC) + " (ps.transport)",
            error(MINIMAL, "ps.shard_placement=executors", "ps.transport=ipc"));
        assertEquals("config key 'resume' is latest but checkpoint.dir is not set", error(MINIMAL, "resume=latest"));
        // the model types are the worker's ModelType: its message, not a copy of its list
        assertEquals(dir.resolve("job.yaml") + ": " + assertThrows(IllegalArgumentException.class,
            () -> ModelType.parse("resnet")).getMessage(), error(MINIMAL, "model.type=resnet"));
    }

    @Test
    void oldKeyNamesStillWorkAndWarnOnceNamingTheNewKey() throws IOException {
        JobConfig c;
        List<String> warnings;
        try (LogCapture log = new LogCapture()) {
            c = ConfigLoader.load(yaml(MINIMAL + "ps: {placement: executors, transport: udp}\n"),
                List.of("optimizer.placement=replica", "ps.placement=driver"));
            ConfigLoader.checked(c, true); // the run's own copy: new names only, nothing more to warn about
            warnings = log.warnings();
        }
        assertEquals(ShardPlacement.DRIVER, c.ps().shardPlacement()); // --set still overrides the file
        assertEquals(StepPlacement.REPLICA, c.optimizer().stepPlacement());
        assertEquals(List.of(
            "config key 'optimizer.placement' is now 'optimizer.step_placement'; the old name works for this release only",
            "config key 'ps.placement' is now 'ps.shard_placement'; the old name works for this release only"),
            warnings);
        assertTrue(error(MINIMAL + "ps: {placement: driver, shard_placement: executors}\n")
            .endsWith("config keys 'ps.placement' and 'ps.shard_placement' are both set; 'ps.placement' is the old"
                + " name of 'ps.shard_placement': keep that one"));
    }
}
