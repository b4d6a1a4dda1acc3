package io.lockstep.driver.kryo;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.serializers.JavaSerializer;
import io.lockstep.driver.data.FeatureScaling;
import io.lockstep.driver.spark.ReachStage;
import io.lockstep.driver.spark.RankRows;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.metrics.BinaryMetrics;
import io.lockstep.worker.metrics.ClassificationMetrics;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.metrics.RegressionMetrics;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.train.StepTimes;
import io.lockstep.worker.train.TrainState;
import org.apache.spark.serializer.KryoRegistrator;

import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Every class Lockstep ships through Spark's serializer, for {@code spark.serializer=KryoSerializer} with
 * {@code spark.kryo.registrationRequired=true}: the training rows (the shuffle by rank), the start point and
 * parameter broadcasts, the replicas' results, the metrics partials and the data pipeline's aggregates. Closures
 * (the training task, listeners, the run plan) travel by Java serialization in any case: Spark's closure serializer.
 *
 * <p>Records go through {@link RecordSerializer}, float[] through {@link BulkFloats}, classes with their own Java
 * serialization through it (see the lists for the rest). Classes are registered in one fixed order, so every JVM gives them the same ids.
 * Spark adds it after the user's own registrators ({@code spark.kryo.registrator} is a comma-separated list).
 */
public final class LockstepKryoRegistrator implements KryoRegistrator {
    /** The classes in the data pipeline's package that are not public, by name. */
    static final List<String> BY_NAME = List.of(
        "io.lockstep.driver.data.Example",
        "io.lockstep.driver.data.LibSvmReader$Line",
        "io.lockstep.driver.data.Normalization$Stats",
        "io.lockstep.driver.data.LabelCheck",
        "io.lockstep.worker.metrics.FloatList");

    /**
     * Spark's own classes that it does not register and a Lockstep job ships: the ML vector types in a Parquet
     * schema (the schema inference's task results carry StructTypes), written as their class alone.
     */
    static final List<String> SPARK_UDTS = List.of(
        "org.apache.spark.ml.linalg.VectorUDT",
        "org.apache.spark.ml.linalg.MatrixUDT");

    /**
     * Spark SQL's data types as schema inference ships them (Parquet's task results, CSV inference's aggregate
     * of DataType[]): the atomic types are Scala objects, read back as themselves; the others are plain classes.
     */
    static final List<String> SQL_OBJECTS = List.of(
        "BooleanType$", "ByteType$", "ShortType$", "IntegerType$", "LongType$", "FloatType$", "DoubleType$",
        "StringType$", "BinaryType$", "DateType$", "TimestampType$", "TimestampNTZType$", "NullType$",
        "CalendarIntervalType$");
    static final List<String> SQL_TYPES = List.of(
        "ArrayType", "MapType", "DecimalType", "CharType", "VarcharType", "DayTimeIntervalType",
        "YearMonthIntervalType", "[Lorg.apache.spark.sql.types.DataType;");
    private static final String SQL_TYPES_PACKAGE = "org.apache.spark.sql.types.";

    /** The public classes, then the arrays Spark collects them in (task results). */
    static final List<Class<?>> CLASSES = List.of(
        Sample.class, RankRows.class, StartPoint.class, TrainState.class, FeatureScaling.class,
        ReplicaResult.class, StepTimes.class, WireDrops.class, ReachStage.RankReach.class,
        ClassificationMetrics.class, BinaryMetrics.class, RegressionMetrics.class,
        Sample[].class, RankRows[].class, ReplicaResult[].class, ReachStage.RankReach[].class, EvalMetrics[].class,
        Object[].class,
        float[][].class, double[].class, long[].class, int[].class, String[].class,
        ArrayList.class, HashMap.class, LinkedHashMap.class, LinkedHashSet.class);

    @Override
    public void registerClasses(Kryo kryo) {
        kryo.register(float[].class, new BulkFloats());
        for (Class<?> c : CLASSES) {
            register(kryo, c);
        }
        for (String name : BY_NAME) {
            register(kryo, named(name));
        }
        // Spark's modules last: an application without spark-sql or spark-mllib (the API's user may have neither)
        // skips them, and the ids of everything above stay the same
        for (String name : SPARK_UDTS) {
            Class<?> c = optional(name);
            if (c != null) {
                kryo.register(c, new Stateless());
            }
        }
        for (String name : SQL_OBJECTS) {
            Class<?> c = optional(SQL_TYPES_PACKAGE + name);
            if (c != null) {
                kryo.register(c, new ScalaObject());
            }
        }
        for (String name : SQL_TYPES) {
            Class<?> c = optional(name.startsWith("[") ? name : SQL_TYPES_PACKAGE + name);
            if (c != null) {
                kryo.register(c);
            }
        }
    }

    private static Class<?> named(String name) {
        try {
            return Class.forName(name, false, LockstepKryoRegistrator.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("Lockstep's Kryo registrator: " + name + " is not on the classpath", e);
        }
    }

    /** A class of a Spark module the application may not have, or null. */
    private static Class<?> optional(String name) {
        try {
            return Class.forName(name, false, LockstepKryoRegistrator.class.getClassLoader());
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            return null;
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void register(Kryo kryo, Class<?> c) {
        if (c.isRecord()) {
            kryo.register(c, new RecordSerializer(c));
        } else if (writesItself(c)) {
            kryo.register(c, new JavaSerializer()); // its transient fields are written by its own writeObject
        } else {
            kryo.register(c);
        }
    }

    /** A class with a private writeObject: Kryo's field serializer would skip what it writes. */
    private static boolean writesItself(Class<?> c) {
        try {
            c.getDeclaredMethod("writeObject", ObjectOutputStream.class);
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }
}
