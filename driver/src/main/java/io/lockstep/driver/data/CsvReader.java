package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;

import java.util.Arrays;
import java.util.List;

/**
 * Numeric CSV through {@code textFile}: the training file fixes the column count and the label
 * column (an index, negative from the end, or a header name); every file is then parsed against
 * that layout. Bad cells fail naming file, line and column (both 1-based).
 */
final class CsvReader {
    private final JavaSparkContext sc;
    private final boolean header;
    private final Task task;
    /** data.classes, or null. */
    private final Integer classes;
    private final String layoutFile;
    private final String headerLine;
    private final int width;
    private final int label;

    /** Reads the layout (column count, label column) from the first lines of {@code trainPath}. */
    CsvReader(JavaSparkContext sc, JobConfig.Data cfg, Task task) {
        this.sc = sc;
        this.header = cfg.header();
        this.task = task;
        this.classes = cfg.classes();
        this.layoutFile = cfg.train();
        HadoopPaths.requireExists(sc.hadoopConfiguration(), cfg.train());
        List<String> first = sc.textFile(cfg.train()).filter(l -> !l.isBlank()).take(header ? 2 : 1);
        if (first.size() < (header ? 2 : 1)) {
            throw new IllegalArgumentException(cfg.train() + ": no data rows");
        }
        this.headerLine = header ? first.get(0) : null;
        this.width = first.get(first.size() - 1).split(",", -1).length;
        if (width < 2) {
            throw new IllegalArgumentException(cfg.train() + ": need at least one feature and one label column");
        }
        JobConfig.Data.Column column = cfg.labelColumn() != null ? cfg.labelColumn() : JobConfig.Data.Column.index(-1);
        if (column.isIndex()) {
            int i = column.index();
            this.label = i < 0 ? width + i : i;
            if (label < 0 || label >= width) {
                throw new ConfigLoader.ConfigException("config key 'data.label_column' is " + i + " but "
                    + cfg.train() + " has " + width + " columns");
            }
        } else {
            List<String> names = Arrays.stream(headerLine.split(",", -1)).map(String::trim).toList();
            this.label = names.indexOf(column.name().trim());
            if (label < 0) {
                throw new ConfigLoader.ConfigException("config key 'data.label_column': no column '" + column.name()
                    + "' in the header of " + cfg.train() + " (" + DatasetReader.list(names) + ")");
            }
        }
    }

    int features() {
        return width - 1;
    }

    /** The rows of {@code path}, parsed lazily against the training layout, persisted, numbered densely. */
    Part read(String path) {
        HadoopPaths.requireExists(sc.hadoopConfiguration(), path);
        if (header && !path.equals(layoutFile)) {
            String own = sc.textFile(path).filter(l -> !l.isBlank()).take(1).stream().findFirst().orElse("");
            if (!own.trim().equals(headerLine.trim())) {
                throw new IllegalArgumentException(path + ": header differs from the one of " + layoutFile
                    + " (the columns must be the same, in the same order)");
            }
        }
        boolean skipFirst = header;
        int w = width;
        int l = label;
        Task t = task;
        Integer k = classes;
        JavaRDD<Example> rows = sc.textFile(path).zipWithIndex()
            .filter(r -> !(skipFirst && r._2() == 0) && !r._1().isBlank())
            .map(r -> parse(path, r._2() + 1, r._1(), w, l, t, k))
            .persist(StorageLevel.MEMORY_AND_DISK());
        return Splits.reindex(rows, path, Part.Locator.of(path, "line"), ", column " + (l + 1));
    }

    static Example parse(String path, long line, String text, int width, int labelColumn, Task task,
                         Integer classes) {
        String[] cells = text.split(",", -1);
        if (cells.length != width) {
            throw new IllegalArgumentException(path + ": line " + line + " has " + cells.length
                + " columns, expected " + width);
        }
        float[] x = new float[width - 1];
        float label = 0;
        for (int c = 0, f = 0; c < width; c++) {
            String cell = cells[c].trim();
            double v;
            try {
                v = Double.parseDouble(cell);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(path + ": line " + line + ", column " + (c + 1)
                    + ": '" + cell + "' is not a number");
            }
            if (c == labelColumn) {
                String problem = Labels.problem(task, v, false, classes);
                if (problem != null) {
                    throw new IllegalArgumentException(path + ": line " + line + ", column " + (c + 1)
                        + ": label '" + cell + "' " + problem);
                }
                label = Labels.stored(task, v);
            } else {
                String problem = Values.featureProblem(v);
                if (problem != null) {
                    throw new IllegalArgumentException(path + ": line " + line + ", column " + (c + 1)
                        + ": '" + cell + "' " + problem);
                }
                x[f++] = (float) v;
            }
        }
        return new Example(-1, line, x, label);
    }
}
