package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.ConfigLoader;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.DataInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * IDX image/label file pairs through {@code binaryFiles} (one partition per file, images and
 * labels zipped in order), pixels scaled to [0, 1]. Counts come from the headers, so reading a
 * split costs no Spark job; items are numbered from 0 in messages.
 */
final class IdxReader {
    private final JavaSparkContext sc;
    private final Task task;
    /** data.classes, or null. */
    private final Integer classCount;
    private int features = -1;
    private String firstImages;

    IdxReader(JavaSparkContext sc, Task task, Integer classes) {
        this.sc = sc;
        this.task = task;
        this.classCount = classes;
    }

    /** The label file next to an images file: images-idx3 becomes labels-idx1. */
    static String labelsPathFor(String imagesPath) {
        String labels = imagesPath.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1");
        if (labels.equals(imagesPath)) {
            throw new ConfigLoader.ConfigException("cannot derive the label file from '" + imagesPath
                + "': set data.train_labels / data.validation_labels / data.test_labels");
        }
        return labels;
    }

    /** Pixels per image, fixed by the first split read; later splits must have the same image size. */
    int features() {
        return features;
    }

    Part read(String images, String labelsOrNull) {
        String labels = labelsOrNull != null ? labelsOrNull : labelsPathFor(images);
        Configuration hadoop = sc.hadoopConfiguration();
        IdxFile.Header x = header(hadoop, images, 3);
        IdxFile.Header y = header(hadoop, labels, 1);
        if (x.count() != y.count()) {
            throw new IllegalArgumentException(labels + ": " + y.count() + " labels for " + x.count()
                + " images in " + images);
        }
        if (features < 0) {
            features = x.itemSize();
            firstImages = images;
        } else if (x.itemSize() != features) {
            throw new IllegalArgumentException(images + ": images have " + x.itemSize() + " pixels, the images of "
                + firstImages + " " + features);
        }
        JavaRDD<float[]> pixels = sc.binaryFiles(images, 1).flatMap(f -> IdxFile.images(f._2().open(), images));
        JavaRDD<Integer> classes = sc.binaryFiles(labels, 1).flatMap(f -> IdxFile.labels(f._2().open(), labels));
        Task t = task;
        Integer k = classCount;
        // one file each (one partition, same item count), so zip pairs them in order
        Splits.Indexed<scala.Tuple2<float[], Integer>> items = Splits.index(pixels.zip(classes).map(p -> p), x.count());
        JavaRDD<Example> rows = items.rows().map(p -> {
            long item = p._2();
            int label = p._1()._2();
            String problem = Labels.problem(t, label, false, k);
            if (problem != null) {
                throw new IllegalArgumentException(labels + ": item " + item + ": label '" + label + "' " + problem);
            }
            return new Example(item, item, p._1()._1(), Labels.stored(t, label));
        });
        return new Part(rows, items.count(), labels, Part.Locator.of(labels, "item"), "");
    }

    private static IdxFile.Header header(Configuration hadoop, String path, int rank) {
        Path p = new Path(path);
        try {
            FileSystem fs = p.getFileSystem(hadoop);
            try (DataInputStream in = IdxFile.open(fs.open(p), path)) {
                return IdxFile.readHeader(in, path, rank);
            }
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException(path + ": file not found");
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read", e);
        }
    }
}
