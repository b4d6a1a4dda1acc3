package io.lockstep.driver.kryo;

import com.esotericsoftware.kryo.Kryo;
import io.lockstep.driver.data.FeatureScaling;
import io.lockstep.driver.spark.RankRows;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.train.StepTimes;
import io.lockstep.worker.train.TrainState;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;
import scala.Tuple2;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every class the registrator registers, through Spark's own KryoSerializer with registration required, comes back
 * equal: the same Java-serialized bytes as the original (a deep comparison that needs no equals method, and sees
 * every field, transient ones written by their own writeObject included); JDK collections and Spark's schemas by
 * equals.
 */
class LockstepKryoRegistratorTest {
    private static final ClassTag<Object> ANY = ClassTag$.MODULE$.apply(Object.class);

    private static SerializerInstance kryo() {
        return new KryoSerializer(SparkConfs.kryo(new SparkConf(false))).newInstance();
    }

    @Test
    void everyRegisteredClassRoundTripsEqual() throws Exception {
        List<Object> samples = samples();
        Set<String> covered = samples.stream().map(o -> o.getClass().getName()).collect(Collectors.toSet());
        for (Class<?> c : LockstepKryoRegistrator.CLASSES) {
            assertTrue(covered.contains(c.getName()), "no sample of registered class " + c.getName());
        }
        for (String name : concat(LockstepKryoRegistrator.BY_NAME, LockstepKryoRegistrator.SPARK_UDTS)) {
            if (!name.endsWith("FloatList")) { // inside BinaryMetrics
                assertTrue(covered.contains(name), "no sample of registered class " + name);
            }
        }
        SerializerInstance ser = kryo();
        for (Object o : samples) {
            Object back = ser.deserialize(ser.serialize(o, ANY), ANY);
            assertSame(o.getClass(), back.getClass(), o.getClass().getName());
            if (o instanceof Map || o instanceof java.util.Collection) { // their Java form has the table's capacity
                assertEquals(o, back);
                continue;
            }
            if (o instanceof org.apache.spark.sql.types.StructType[] schemas) { // their Java form has lazy caches
                assertArrayEquals(schemas, (Object[]) back);
                continue;
            }
            if (o instanceof org.apache.spark.sql.types.DataType[] types) { // Scala objects: the same instance
                for (int i = 0; i < types.length; i++) {
                    Object t = ((Object[]) back)[i];
                    assertEquals(types[i], t);
                    if (types[i].getClass().getName().endsWith("$")) {
                        assertSame(types[i], t, "a Scala object comes back as itself");
                    }
                }
                continue;
            }
            assertArrayEquals(javaBytes(o), javaBytes(back), o.getClass().getName() + " changed on the way: " + back);
        }
    }

    @Test
    void aMillionFloatsAreFourMegabytesWrittenInBulk() {
        float[] values = new float[1_000_000];
        Random r = new Random(7);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) r.nextGaussian();
        }
        SerializerInstance ser = kryo();
        ByteBuffer bytes = ser.serialize(values, ANY);
        // 4 bytes a value; the class id and the length take a handful more
        assertTrue(bytes.remaining() >= 4_000_000 && bytes.remaining() <= 4_000_008, bytes.remaining() + " bytes");
        assertArrayEquals(values, (float[]) ser.deserialize(bytes, ANY));
        Kryo kryo = new KryoSerializer(SparkConfs.kryo(new SparkConf(false))).newKryo();
        assertInstanceOf(BulkFloats.class, kryo.getSerializer(float[].class));
        StartPoint back = (StartPoint) ser.deserialize(ser.serialize(new StartPoint(values, null, new TrainState(1), null), ANY), ANY);
        assertArrayEquals(values, back.params());
        assertNull(back.updaterState(), "a null float[] stays null");
    }

    @Test
    void anUnregisteredClassIsNamedWithWhatToDo() {
        SerializerInstance ser = kryo();
        RuntimeException e = assertThrows(RuntimeException.class, () -> ser.serialize(new Unknown(1), ANY));
        assertEquals("Class is not registered: io.lockstep.driver.kryo.LockstepKryoRegistratorTest$Unknown"
            + " — add it with spark.kryo.registrator or set spark.kryo.registrationRequired=false",
            Unregistered.explained(new RuntimeException("Job aborted", e)).getMessage());
        RuntimeException other = new IllegalStateException("something else");
        assertSame(other, Unregistered.explained(other));
    }

    /** A user's registrator named in spark.kryo.registrator runs, and Lockstep's after it. */
    @Test
    void theUsersRegistratorRunsBesideLockstepsOwn() {
        SparkConf conf = SparkConfs.kryo(new SparkConf(false).set("spark.kryo.registrator", UserRegistrator.class.getName()));
        assertEquals(UserRegistrator.class.getName() + "," + LockstepKryoRegistrator.class.getName(),
            conf.get("spark.kryo.registrator"));
        SerializerInstance ser = new KryoSerializer(conf).newInstance();
        Unknown mine = new Unknown(42);
        assertEquals(42, ((Unknown) ser.deserialize(ser.serialize(mine, ANY), ANY)).x());
        Sample s = new Sample(3, new float[]{1, 2}, new float[]{0, 1});
        assertArrayEquals(s.features(), ((Sample) ser.deserialize(ser.serialize(s, ANY), ANY)).features());
    }

    record Unknown(int x) {
    }

    public static final class UserRegistrator implements org.apache.spark.serializer.KryoRegistrator {
        @Override
        public void registerClasses(Kryo kryo) {
            kryo.register(Unknown.class, new RecordSerializer<>(Unknown.class));
        }
    }

    /** One instance of each registered class, with content. */
    private static List<Object> samples() throws Exception {
        List<Object> out = new ArrayList<>();
        Sample sample = new Sample(12, new float[]{0.5f, -1f, Float.MIN_VALUE}, new float[]{0, 0, 1});
        out.add(sample);
        out.add(new RankRows(new ArrayList<>(List.of(sample, new Sample(13, new float[]{1, 2, 3}, new float[]{1, 0, 0}))),
            new ArrayList<>()));
        TrainState state = new TrainState(42).at(17, 2, 5);
        state.offer(0.93, true, 0);
        out.add(state);
        out.add(new StartPoint(new float[]{1, 2, 3}, new float[]{0.1f, 0.2f}, state, null));
        out.add(FeatureScaling.standardize(new double[]{1, 2}, new double[]{3, 4}));
        WireDrops drops = new WireDrops(Map.of("malformed", 3L), Map.of(), Map.of("ignored", 2L), Map.of("setup", 1L),
            Map.of("naks_sent", 4L));
        out.add(drops);
        StepTimes times = new StepTimes(0.5, 1.5, 2.5, 0.25);
        out.add(times);
        ReplicaResult result = new ReplicaResult(1, "123@host", "cpu", 99L, new float[]{4, 5}, null, state, null,
            "stopped", 640, 3.25, times, drops);
        out.add(result);
        out.add(new ReplicaResult[]{result, result.withDrops(WireDrops.NONE)});
        io.lockstep.driver.spark.ReachStage.RankReach reach = new io.lockstep.driver.spark.ReachStage.RankReach(1,
            "executor 0 10.0.0.12", false, new ArrayList<>(List.of(0, 2)), null);
        out.add(reach);
        out.add(new io.lockstep.driver.spark.ReachStage.RankReach[]{reach});
        out.add(new Sample[]{sample});
        out.add(new RankRows[]{new RankRows(new ArrayList<>(List.of(sample)), new ArrayList<>())});
        out.add(metrics("classification", 3, new float[][]{{1, 0, 0}, {0, 1, 0}}, new float[][]{{0.7f, 0.2f, 0.1f}, {0.5f, 0.3f, 0.2f}}));
        out.add(metrics("binary", 1, new float[][]{{1}, {0}, {1}}, new float[][]{{0.9f}, {0.4f}, {0.2f}}));
        out.add(metrics("regression", 2, new float[][]{{1, 2}, {3, 4}}, new float[][]{{1.5f, 2}, {2, 5}}));
        out.add(new EvalMetrics[]{EvalMetrics.forTask("regression", 1)});
        out.add(new Object[]{3L, "row", sample});
        out.add(new float[][]{{1, 2}, {3}});
        out.add(new double[]{1.5, Double.NaN});
        out.add(new long[]{1, Long.MAX_VALUE});
        out.add(new int[]{-1, 7});
        out.add(new String[]{"a", null});
        out.add(new ArrayList<>(List.of(1L, 2L)));
        out.add(new HashMap<>(Map.of("k", 1L)));
        out.add(new LinkedHashMap<>(Map.of("k", 2L)));
        out.add(new LinkedHashSet<>(List.of("x", "y")));
        out.add(new Tuple2<>(3, sample)); // the shuffle by rank's pairs

        Object example = construct("io.lockstep.driver.data.Example", 5L, 6L, new float[]{1, 2}, 3f);
        out.add(example);
        out.add(construct("io.lockstep.driver.data.LibSvmReader$Line", 4L, "1 3:0.5"));
        Object stats = construct("io.lockstep.driver.data.Normalization$Stats", 2);
        Method add = stats.getClass().getDeclaredMethod("add", example.getClass());
        add.setAccessible(true);
        add.invoke(stats, example);
        out.add(stats);
        out.add(construct("io.lockstep.driver.data.LabelCheck"));
        // a Parquet file's schema with an ML vector column, as schema inference's tasks return it
        out.add(new org.apache.spark.sql.types.StructType[]{new org.apache.spark.sql.types.StructType()
            .add("features", new org.apache.spark.ml.linalg.VectorUDT()).add("label", "double")});
        out.add(sqlTypes());
        out.add(new org.apache.spark.ml.linalg.VectorUDT());
        out.add(new org.apache.spark.ml.linalg.MatrixUDT());
        out.add(org.apache.spark.ml.linalg.Vectors.dense(1, 2));
        out.add(org.apache.spark.ml.linalg.Vectors.sparse(4, new int[]{1}, new double[]{0.5}));
        return out;
    }

    /** One of each SQL data type the registrator names, by its name, as CSV schema inference ships them. */
    private static org.apache.spark.sql.types.DataType[] sqlTypes() throws Exception {
        List<org.apache.spark.sql.types.DataType> types = new ArrayList<>();
        for (String name : LockstepKryoRegistrator.SQL_OBJECTS) {
            types.add((org.apache.spark.sql.types.DataType) Class.forName("org.apache.spark.sql.types." + name)
                .getField("MODULE$").get(null));
        }
        types.add(org.apache.spark.sql.types.DataTypes.createArrayType(org.apache.spark.sql.types.DataTypes.DoubleType));
        types.add(org.apache.spark.sql.types.DataTypes.createMapType(org.apache.spark.sql.types.DataTypes.StringType,
            org.apache.spark.sql.types.DataTypes.LongType));
        types.add(org.apache.spark.sql.types.DataTypes.createDecimalType(10, 2));
        types.add(new org.apache.spark.sql.types.CharType(3));
        types.add(new org.apache.spark.sql.types.VarcharType(5));
        types.add(org.apache.spark.sql.types.DayTimeIntervalType.apply());
        types.add(org.apache.spark.sql.types.YearMonthIntervalType.apply());
        Set<String> named = types.stream().map(t -> t.getClass().getName()).collect(Collectors.toSet());
        for (String name : LockstepKryoRegistrator.SQL_TYPES) {
            assertTrue(name.startsWith("[") || named.contains("org.apache.spark.sql.types." + name), name);
        }
        return types.toArray(new org.apache.spark.sql.types.DataType[0]);
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static EvalMetrics metrics(String task, int outputs, float[][] labels, float[][] predictions) {
        EvalMetrics m = EvalMetrics.forTask(task, outputs);
        float[] loss = new float[labels.length];
        java.util.Arrays.fill(loss, 0.25f);
        m.add(Nd4j.create(labels), Nd4j.create(predictions), Nd4j.create(loss));
        return m;
    }

    private static Object construct(String className, Object... args) throws Exception {
        Class<?> c = Class.forName(className);
        for (Constructor<?> k : c.getDeclaredConstructors()) {
            if (k.getParameterCount() == args.length) {
                k.setAccessible(true);
                return k.newInstance(args);
            }
        }
        throw new AssertionError(className + " has no constructor of " + args.length + " arguments");
    }

    private static byte[] javaBytes(Object o) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }
}
