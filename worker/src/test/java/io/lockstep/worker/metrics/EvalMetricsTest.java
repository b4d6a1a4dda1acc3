package io.lockstep.worker.metrics;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;

import static io.lockstep.worker.metrics.Fixtures.*;
import static org.junit.jupiter.api.Assertions.*;

/** What all kinds share: the factory, metric names and directions, merge checks, strict JSON, serialization. */
class EvalMetricsTest {

    @Test
    void forTaskBuildsEachKindAndRefusesWhatCannotWork() {
        assertEquals(7, ((ClassificationMetrics) EvalMetrics.forTask("classification", 7)).classes());
        assertInstanceOf(BinaryMetrics.class, EvalMetrics.forTask("binary", 1));
        assertEquals(3, ((RegressionMetrics) EvalMetrics.forTask("regression", 3)).columns());
        for (String task : EvalMetrics.TASKS) {
            assertEquals(task, EvalMetrics.forTask(task, task.equals("classification") ? 2 : 1).task());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> EvalMetrics.forTask("ranking", 1));
        assertTrue(e.getMessage().contains("[classification, binary, regression]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EvalMetrics.forTask("binary", 2));
        assertThrows(IllegalArgumentException.class, () -> EvalMetrics.forTask("classification", 1));
        assertThrows(IllegalArgumentException.class, () -> EvalMetrics.forTask("regression", 0));
    }

    @Test
    void metricNamesAndWhichWayIsBetter() {
        assertEquals(List.of("loss", "accuracy", "precision", "recall", "f1"), EvalMetrics.metricNames("classification"));
        assertEquals(List.of("loss", "accuracy", "precision", "recall", "f1", "auc"), EvalMetrics.metricNames("binary"));
        assertEquals(List.of("loss", "mse", "mae", "rmse", "r2"), EvalMetrics.metricNames("regression"));
        for (String lower : List.of("loss", "mse", "mae", "rmse")) {
            assertFalse(EvalMetrics.higherIsBetter(lower), lower);
        }
        for (String higher : List.of("accuracy", "precision", "recall", "f1", "auc", "r2")) {
            assertTrue(EvalMetrics.higherIsBetter(higher), higher);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> EvalMetrics.higherIsBetter("nope"));
        assertTrue(e.getMessage().contains("nope") && e.getMessage().contains("auc"), e.getMessage());
    }

    @Test
    void unknownMetricNameListsTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new RegressionMetrics(2).metric("nope"));
        assertEquals("unknown metric 'nope' for task regression; valid metrics: [loss, mse, mae, rmse, r2]",
            e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new BinaryMetrics().metric("r2"));
        assertTrue(e.getMessage().contains("[loss, accuracy, precision, recall, f1, auc]"), e.getMessage());
    }

    @Test
    void mergingDifferentKindsOrShapesFailsSayingWhatDiffersAndChangesNothing() {
        ClassificationMetrics three = new ClassificationMetrics(3);
        three.add(Nd4j.create(new float[]{0, 1, 0}, new long[]{1, 3}, 'c'),
            Nd4j.create(new float[]{0.2f, 0.7f, 0.1f}, new long[]{1, 3}, 'c'), Nd4j.ones(1));
        ClassificationMetrics four = new ClassificationMetrics(4);
        four.add(Nd4j.create(new float[]{0, 0, 0, 1}, new long[]{1, 4}, 'c'),
            Nd4j.create(new float[]{0.1f, 0.1f, 0.1f, 0.7f}, new long[]{1, 4}, 'c'), Nd4j.ones(1));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> three.merge(four));
        assertEquals("cannot merge ClassificationMetrics(classes=4) into ClassificationMetrics(classes=3): "
            + "number of classes differs (4 vs 3)", e.getMessage());
        assertEquals(1, three.count());
        assertEquals(1.0, three.metric("accuracy"));

        e = assertThrows(IllegalArgumentException.class, () -> new RegressionMetrics(2).merge(new RegressionMetrics(3)));
        assertTrue(e.getMessage().contains("number of columns differs (3 vs 2)"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> three.merge(new BinaryMetrics()));
        assertEquals("cannot merge BinaryMetrics(outputs=1) into ClassificationMetrics(classes=3): "
            + "different tasks (binary vs classification)", e.getMessage());
        assertEquals(1, three.count());
    }

    @Test
    void emptyMetricsAreStrictJsonWithNulls() throws Exception {
        for (EvalMetrics m : List.of(new ClassificationMetrics(3), new BinaryMetrics(), new RegressionMetrics(2))) {
            Map<String, Object> map = m.toMap();
            assertEquals(0L, map.get("count"), m.task());
            for (String name : m.metricNames()) {
                assertTrue(Double.isNaN(m.metric(name)), m.task() + " " + name);
                assertTrue(map.containsKey(name), m.task() + " " + name);
                assertNull(map.get(name), m.task() + " " + name);
            }
            String json = assertStrictJson(map);
            assertTrue(json.contains("\"loss\":null"), json);
        }
    }

    @Test
    void mergingEmptyPartsChangesNothing() {
        RegressionMetrics m = new RegressionMetrics(1);
        m.add(Nd4j.create(new double[]{1, 2, 4}, new long[]{3, 1}, 'c'),
            Nd4j.create(new double[]{1, 3, 3}, new long[]{3, 1}, 'c'), Nd4j.create(new double[]{0, 1, 1}));
        Map<String, Object> before = m.toMap();
        m.merge(new RegressionMetrics(1));
        assertSameMetrics(before, m.toMap(), "after merging an empty part");
        assertSameMetrics(before, new RegressionMetrics(1).merge(m).toMap(), "merged into an empty part");
        m.add(Nd4j.zeros(0, 1), Nd4j.zeros(0, 1), Nd4j.zeros(0));
        assertSameMetrics(before, m.toMap(), "after an empty batch");
    }
}
