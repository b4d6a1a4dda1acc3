package io.lockstep.driver.config;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.lockstep.driver.config.ConfigLoader.ConfigException;
import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ExchangeSpec;

import java.lang.reflect.RecordComponent;

/**
 * The rules a job config keeps, stated once each with its message (naming the key and the bad value), the
 * cross-key ones included; rules another module owns (the MTU, shards on the executors, the model types, the
 * optimizer's) are asked of it. {@link ConfigLoader} applies them to every config it binds, whatever filled it.
 */
public final class ConfigRules {
    /**
     * Most classes a classification job may have ({@code data.classes}, and the largest class index
     * + 1 a label may name): labels are stored one-hot, one float per class per row, and the output
     * layer has a column per class.
     */
    public static final int MAX_CLASSES = 100_000;

    /**
     * Most parameter-server shards: each is a server thread, two UDP ports and, in every media
     * driver, (workers + 1) log buffers of 3 x ps.term_length in /dev/shm, and every worker connects
     * to every shard before the first step (measured on 2 cores: 64 shards start in ~3 s, 256 in
     * ~20 s and train 10x slower).
     */
    public static final int MAX_SHARDS = 64;

    private ConfigRules() {
    }

    public static void validate(JobConfig c) {
        validate(c, true);
    }

    public static void validate(JobConfig c, boolean withFiles) {
        requireFinite(c, "");
        requireChosen(c);
        require(c.workers() >= 1, "workers", "must be >= 1, got " + c.workers());
        require(c.batchSize() >= 1, "batch_size", "must be >= 1, got " + c.batchSize());
        require(c.epochs() >= 1, "epochs", "must be >= 1, got " + c.epochs());
        require(c.logEvery() >= 1, "log_every", "must be >= 1, got " + c.logEvery());
        require(c.ps().shards() >= 1, "ps.shards", "must be >= 1, got " + c.ps().shards());
        require(c.ps().shards() <= MAX_SHARDS, "ps.shards", "must be <= " + MAX_SHARDS + ", got " + c.ps().shards()
            + ": each shard is a server thread, 2 UDP ports and (workers + 1) log buffers of 3 x ps.term_length"
            + " in /dev/shm per media driver, and every worker connects to every shard before the first step"
            + " (256 shards take ~20 s to start on 2 cores)");
        String host = c.ps().host();
        require(host == null || !host.isBlank(), "ps.host", "must be an address of the driver, got ''");
        require(host == null || !isWildcard(host), "ps.host", "is " + host + ", which binds every interface but is no"
            + " address executors can send to: set an address of this driver they can reach, or remove ps.host to use"
            + " the address Spark gives the driver (spark.driver.host)");
        int onePerJvm = 3 * c.ps().shards() + 3;
        require(c.ps().ports().isAuto() || c.ps().ports().size() >= onePerJvm, "ps.ports", "holds "
            + c.ps().ports().size() + " ports but a JVM can need " + onePerJvm + " (with " + c.ps().shards()
            + " shards: 2 per shard and 2 for the all-gather where the shards run, 1 per shard and 1 more where workers"
            + " receive), and each JVM on a host takes its own: widen ps.ports");
        require(c.ps().timeoutSeconds() >= 1, "ps.timeout_seconds", "must be >= 1, got " + c.ps().timeoutSeconds());
        // an Aeron frame of up to one MTU must fit in a message, and messages are at most term / 8
        TermLength term = c.ps().termLength();
        String termProblem = term.isAuto() ? null : ExchangeRules.termForMtuProblem(term.bytes(), c.ps().mtu().largest());
        require(termProblem == null, "ps.term_length", termProblem + (c.ps().mtu().isAuto()
            ? " (ps.mtu auto being at most " + ExchangeRules.MAX_MTU + ")" : ""));
        require(c.ps().aeronDir() == null || !c.ps().aeronDir().isBlank(), "ps.aeron_dir",
            "must be a directory, got ''");
        if (c.ps().shardPlacement() == ShardPlacement.EXECUTORS && c.ps().transport() == Transport.IPC) {
            throw new ConfigException("config key 'ps.shard_placement' is executors, but "
                + ExchangeRules.executorShardsProblem(ExchangeSpec.Transport.IPC) + " (ps.transport)");
        }
        validateData(c.data(), c.task());
        require(!withFiles || c.data().train() != null, "data.train", "is required");
        require(!withFiles || c.data().test() != null, "data.test", "is required");
        require(c.output().dir() != null && !c.output().dir().isBlank(), "output.dir", "is required");
        require(c.recovery().maxAttempts() >= 1, "recovery.max_attempts", "must be >= 1, got "
            + c.recovery().maxAttempts());
        require(c.accumulateSteps() >= 1, "accumulate_steps", "must be >= 1, got " + c.accumulateSteps());
        Specs.optimizer(c.optimizer());
        Specs.model(c.model()); // model.type and what each type needs: ModelSpec's rules
        Specs.clipping(c.clipping());
        require(c.checkpoint().keep() >= 1, "checkpoint.keep", "must be >= 1, got " + c.checkpoint().keep());
        require(c.earlyStopping().patience() >= 1, "early_stopping.patience", "must be >= 1, got "
            + c.earlyStopping().patience());
        require(c.earlyStopping().minDelta() >= 0, "early_stopping.min_delta", "must be >= 0, got "
            + c.earlyStopping().minDelta());
        require(c.resume() == null || !c.resume().isLatest() || c.checkpoint().dir() != null, "resume",
            "is latest but checkpoint.dir is not set");
    }

    /** The choices a config cannot leave empty ({@code ps.wire: ~} binds null): each typed key has a value. */
    private static void requireChosen(JobConfig c) {
        Object[][] chosen = {
            {"task", c.task()}, {"optimizer.type", c.optimizer().type()}, {"on_non_finite", c.onNonFinite()}, {"ps.transport", c.ps().transport()},
            {"ps.shard_placement", c.ps().shardPlacement()}, {"ps.wire", c.ps().wire()},
            {"optimizer.step_placement", c.optimizer().stepPlacement()}, {"validation.every", c.validation().every()},
            {"checkpoint.every", c.checkpoint().every()},
        };
        for (Object[] keyValue : chosen) {
            require(keyValue[1] != null, (String) keyValue[0], "is required");
        }
    }

    /** The data.* keys on their own and against data.format and the task (train/test presence aside). */
    public static void validateData(JobConfig.Data d, Task task) {
        require(d.format() != null, "data.format", "is required");
        require(d.normalize() != null, "data.normalize", "is required");
        DataFormat format = d.format();
        if (d.validation() != null && d.validationFraction() != null) {
            throw new ConfigException("config keys 'data.validation' and 'data.validation_fraction' are both set;"
                + " use one of them");
        }
        if (d.validationFraction() != null) {
            double f = d.validationFraction();
            require(f > 0 && f < 1, "data.validation_fraction", "must be > 0 and < 1, got " + f);
        }
        if (d.labelColumn() != null) {
            require(format != DataFormat.IDX && format != DataFormat.LIBSVM, "data.label_column",
                "does not apply to data.format " + format + " (the label is part of the format)");
            require(format != DataFormat.PARQUET || !d.labelColumn().isIndex(), "data.label_column",
                "must be a column name for data.format parquet, got " + d.labelColumn());
            require(format != DataFormat.CSV || d.labelColumn().isIndex() || d.header(), "data.label_column",
                "is a column name ('" + d.labelColumn() + "'), which needs data.header: true for csv");
        }
        require(d.featuresColumn() == null || format == DataFormat.PARQUET, "data.features_column",
            "applies to data.format parquet only");
        require(d.featureColumns() == null || format == DataFormat.PARQUET, "data.feature_columns",
            "applies to data.format parquet only");
        if (d.featuresColumn() != null && d.featureColumns() != null) {
            throw new ConfigException("config keys 'data.features_column' and 'data.feature_columns' are both set;"
                + " use one of them");
        }
        if (d.featureColumns() != null) {
            require(!d.featureColumns().isEmpty(), "data.feature_columns", "must name at least one column");
            require(d.featureColumns().stream().distinct().count() == d.featureColumns().size(),
                "data.feature_columns", "names a column twice: " + d.featureColumns());
            require(d.labelColumn() == null || !d.featureColumns().contains(d.labelColumn().name()),
                "data.feature_columns", "contains the label column '" + d.labelColumn() + "'");
        }
        if (d.features() != null) {
            require(format == DataFormat.LIBSVM, "data.features", "applies to data.format libsvm only");
            require(d.features() >= 1, "data.features", "must be >= 1, got " + d.features());
        }
        if (d.classes() != null) {
            require(d.classes() >= 2 && d.classes() <= MAX_CLASSES, "data.classes", "must be >= 2 and <= "
                + MAX_CLASSES + " (labels are stored one-hot, one float per class per row), got " + d.classes());
            require(task == Task.CLASSIFICATION || task == Task.BINARY && d.classes() == 2, "data.classes",
                "applies to task classification only (task is " + task.key() + ")");
        }
    }

    /**
     * Every number-valued key (double components of the config and its sections, found by reflection, so
     * new keys are covered) must be finite: {@code optimizer.lr: 1e400} reads as Infinity.
     */
    private static void requireFinite(Record section, String prefix) {
        PropertyNamingStrategies.NamingBase snake = (PropertyNamingStrategies.NamingBase) PropertyNamingStrategies.SNAKE_CASE;
        for (RecordComponent part : section.getClass().getRecordComponents()) {
            Object value;
            try {
                value = part.getAccessor().invoke(section);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            String key = prefix + snake.translate(part.getName());
            if (value instanceof Double d && !Double.isFinite(d)) {
                throw new ConfigException("config key '" + key + "' must be a finite number, got " + d
                    + (d.isInfinite() ? " (the value is too large for a double)" : ""));
            }
            if (value instanceof Record inner && part.getType().getEnclosingClass() == JobConfig.class) {
                requireFinite(inner, key + ".");
            }
        }
    }

    /** 0.0.0.0, ::, [::] and their spellings (IP literals only: a name is not looked up here). */
    static boolean isWildcard(String host) {
        String h = host.strip();
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        if (!h.matches("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")) {
            return false;
        }
        try {
            return java.net.InetAddress.getByName(h).isAnyLocalAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    private static void require(boolean ok, String key, String message) {
        if (!ok) {
            throw new ConfigException("config key '" + key + "' " + message);
        }
    }
}
