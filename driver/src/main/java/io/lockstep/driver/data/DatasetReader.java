package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.UserDefinedType;
import org.apache.spark.storage.StorageLevel;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Spark SQL rows (Parquet files, or datasets handed in through the API): a label column by name
 * plus either one vector column (an ML {@code Vector} or an array of numbers) or numeric feature
 * columns. The training dataset fixes the columns and the feature count; the other splits must
 * have the same columns. Bad values fail naming the Parquet file and the row in it (1-based), or,
 * for datasets not read straight from Parquet, the dataset and the row in Spark's read order,
 * and the column.
 */
final class DatasetReader implements Serializable {
    private final Task task;
    /** data.classes, or null. */
    private final Integer classes;
    private final String label;
    /** The one features column, or null when {@link #columns} are the features. */
    private final String vector;
    private final List<String> columns;
    private final int features;

    DatasetReader(Dataset<Row> train, String name, JobConfig.Data cfg, Task task) {
        this.task = task;
        this.classes = cfg.classes();
        if (cfg.labelColumn() != null && cfg.labelColumn().isIndex()) {
            throw new ConfigLoader.ConfigException("config key 'data.label_column' must be a column name for "
                + name + ", got " + cfg.labelColumn());
        }
        this.label = cfg.labelColumn() != null ? cfg.labelColumn().name() : "label";
        StructType schema = train.schema();
        field(schema, label, name, "data.label_column");
        String vectorColumn = cfg.featuresColumn();
        List<String> featureColumns = cfg.featureColumns();
        if (vectorColumn == null && featureColumns == null) {
            featureColumns = new ArrayList<>();
            for (StructField f : schema.fields()) {
                if (f.dataType() instanceof NumericType && !f.name().equals(label)) {
                    featureColumns.add(f.name());
                }
            }
            if (featureColumns.isEmpty()) {
                if (!Arrays.asList(schema.fieldNames()).contains("features")) {
                    throw new ConfigLoader.ConfigException(name + " has no numeric column besides the label '" + label
                        + "' and no 'features' column; set data.features_column or data.feature_columns ("
                        + list(Arrays.asList(schema.fieldNames())) + ")");
                }
                vectorColumn = "features";
                featureColumns = null;
            }
        }
        this.vector = vectorColumn;
        this.columns = featureColumns == null ? null : List.copyOf(featureColumns);
        checkColumns(train, name);
        if (vector == null) {
            this.features = columns.size();
        } else {
            List<Row> first = train.select(quoted(vector)).takeAsList(1);
            if (first.isEmpty()) {
                throw new IllegalArgumentException(name + ": no data rows");
            }
            double[] v = first.get(0).isNullAt(0) ? null : values(first.get(0), 0);
            this.features = v == null ? 0 : v.length;
            if (features == 0) {
                throw new IllegalArgumentException(name + ": row 1, column '" + vector + "': no values");
            }
        }
    }

    int features() {
        return features;
    }

    /**
     * The split's rows, cached by Spark SQL so that they keep one order, numbered 0..n-1. When the
     * dataset reads Parquet files, messages name the file and the row in it (Spark's
     * {@code _metadata} columns); otherwise the dataset and the row in Spark's read order.
     */
    Part read(Dataset<Row> ds, String name) {
        checkColumns(ds, name);
        List<Column> select = new ArrayList<>();
        select.add(quoted(label));
        if (vector != null) {
            select.add(quoted(vector));
        } else {
            columns.forEach(c -> select.add(quoted(c)));
        }
        int fileColumn = select.size();
        Dataset<Row> selected = withFileRows(ds, select);
        String[] files = null;
        if (selected != null) {
            selected = selected.persist(StorageLevel.MEMORY_AND_DISK());
            files = selected.select(selected.col(FILE)).distinct().as(Encoders.STRING()).collectAsList()
                .toArray(new String[0]);
            Arrays.sort(files);
        } else {
            selected = ds.select(select.toArray(new Column[0])).persist(StorageLevel.MEMORY_AND_DISK());
        }
        Splits.Indexed<Row> indexed = Splits.index(selected.javaRDD(), -1);
        DatasetReader layout = this;
        JavaRDD<Example> rows;
        Part.Locator locator;
        if (files == null) {
            locator = Part.Locator.of(name, "row");
            rows = indexed.rows().map(t -> layout.convert(t._1(), t._2(), t._2() + 1, locator));
        } else {
            String[] shown = Arrays.stream(files).map(DatasetReader::shown).toArray(String[]::new);
            locator = pos -> shown[(int) (pos >>> FILE_SHIFT)] + ": row " + (pos & ROW_MASK);
            java.util.HashMap<String, Integer> ids = new java.util.HashMap<>();
            for (String f : files) {
                ids.put(f, ids.size());
            }
            rows = indexed.rows().map(t -> {
                Row r = t._1();
                long pos = ((long) ids.get(r.getString(fileColumn)) << FILE_SHIFT) | (r.getLong(fileColumn + 1) + 1);
                return layout.convert(r, t._2(), pos, locator);
            });
        }
        return new Part(rows, indexed.count(), name, locator, ", column '" + label + "'");
    }

    private static final String FILE = "_lockstep_file";
    private static final int FILE_SHIFT = 40;
    private static final long ROW_MASK = (1L << FILE_SHIFT) - 1;

    /** The selected columns plus the source file and the row in it, or null when the dataset has no such metadata. */
    private static Dataset<Row> withFileRows(Dataset<Row> ds, List<Column> select) {
        List<Column> all = new ArrayList<>(select);
        all.add(functions.col("_metadata.file_path").as(FILE));
        all.add(functions.col("_metadata.row_index").as("_lockstep_row"));
        try {
            return ds.select(all.toArray(new Column[0]));
        } catch (Exception e) { // AnalysisException: not read from Parquet files (or transformed past them)
            if (e instanceof org.apache.spark.sql.AnalysisException) {
                return null;
            }
            throw e;
        }
    }

    /** A file for messages: local paths without the file: scheme. */
    private static String shown(String file) {
        return file.startsWith("file:") ? new org.apache.hadoop.fs.Path(file).toUri().getPath() : file;
    }

    /** Row {@code index} (dense) at {@code pos} as an example; bad values fail naming the place. */
    Example convert(Row row, long index, long pos, Part.Locator at) {
        if (row.isNullAt(0)) {
            throw new IllegalArgumentException(at.where(pos) + ", column '" + label + "': null label");
        }
        Object raw = row.get(0);
        double y = raw instanceof Boolean b ? (b ? 1 : 0) : ((Number) raw).doubleValue();
        String problem = Labels.problem(task, y, false, classes);
        if (problem != null) {
            throw new IllegalArgumentException(at.where(pos) + ", column '" + label + "': label '"
                + Values.text(y) + "' " + problem);
        }
        float[] x = new float[features];
        if (vector != null) {
            if (row.isNullAt(1)) {
                throw new IllegalArgumentException(at.where(pos) + ", column '" + vector + "': null");
            }
            double[] v = values(row, 1);
            if (v == null) {
                throw new IllegalArgumentException(at.where(pos) + ", column '" + vector + "': null element");
            }
            if (v.length != features) {
                throw new IllegalArgumentException(at.where(pos) + ", column '" + vector + "' has "
                    + v.length + " values, expected " + features);
            }
            for (int i = 0; i < features; i++) {
                String bad = Values.featureProblem(v[i]);
                if (bad != null) {
                    throw new IllegalArgumentException(at.where(pos) + ", column '" + vector + "', element "
                        + i + ": '" + Values.text(v[i]) + "' " + bad);
                }
                x[i] = (float) v[i];
            }
        } else {
            for (int i = 0; i < features; i++) {
                if (row.isNullAt(i + 1)) {
                    throw new IllegalArgumentException(at.where(pos) + ", column '" + columns.get(i) + "': null");
                }
                double v = ((Number) row.get(i + 1)).doubleValue();
                String bad = Values.featureProblem(v);
                if (bad != null) {
                    throw new IllegalArgumentException(at.where(pos) + ", column '" + columns.get(i) + "': '"
                        + Values.text(v) + "' " + bad);
                }
                x[i] = (float) v;
            }
        }
        return new Example(index, pos, x, Labels.stored(task, y));
    }

    /** The values of a vector cell (ML or old MLlib Vector, or an array of numbers); null for a null element. */
    private static double[] values(Row row, int i) {
        Object cell = row.get(i);
        if (cell instanceof org.apache.spark.ml.linalg.Vector v) {
            return v.toArray();
        }
        if (cell instanceof org.apache.spark.mllib.linalg.Vector v) {
            return v.toArray();
        }
        List<Object> list = row.getList(i);
        double[] v = new double[list.size()];
        for (int k = 0; k < v.length; k++) {
            Object o = list.get(k);
            if (o == null) {
                return null;
            }
            v[k] = ((Number) o).doubleValue();
        }
        return v;
    }

    private void checkColumns(Dataset<Row> ds, String name) {
        StructType schema = ds.schema();
        DataType labelType = field(schema, label, name, "data.label_column").dataType();
        if (!(labelType instanceof NumericType) && !(labelType instanceof BooleanType)) {
            throw new ConfigLoader.ConfigException("config key 'data.label_column': column '" + label + "' of "
                + name + " is " + labelType.simpleString() + ", not numeric");
        }
        if (vector != null) {
            DataType t = field(schema, vector, name, "data.features_column").dataType();
            boolean vectorType = t instanceof UserDefinedType<?> u
                && (org.apache.spark.ml.linalg.Vector.class.isAssignableFrom(u.userClass())
                || org.apache.spark.mllib.linalg.Vector.class.isAssignableFrom(u.userClass()));
            boolean numberArray = t instanceof ArrayType a && a.elementType() instanceof NumericType;
            if (!vectorType && !numberArray) {
                throw new ConfigLoader.ConfigException("config key 'data.features_column': column '" + vector + "' of "
                    + name + " is " + t.simpleString() + ", not a vector or an array of numbers");
            }
        } else {
            for (String c : columns) {
                DataType t = field(schema, c, name, "data.feature_columns").dataType();
                if (!(t instanceof NumericType)) {
                    throw new ConfigLoader.ConfigException("config key 'data.feature_columns': column '" + c + "' of "
                        + name + " is " + t.simpleString() + ", not numeric");
                }
            }
        }
    }

    private static StructField field(StructType schema, String column, String name, String key) {
        for (StructField f : schema.fields()) {
            if (f.name().equals(column)) {
                return f;
            }
        }
        throw new ConfigLoader.ConfigException("config key '" + key + "': no column '" + column + "' in " + name
            + " (" + list(Arrays.asList(schema.fieldNames())) + ")");
    }

    private static Column quoted(String column) {
        return functions.col("`" + column.replace("`", "``") + "`");
    }

    /** Column names for a message: "columns: a, b, c", the first 20 of them. */
    static String list(List<String> names) {
        return "columns: " + String.join(", ", names.subList(0, Math.min(20, names.size())))
            + (names.size() > 20 ? ", ... (" + names.size() + " in all)" : "");
    }
}
