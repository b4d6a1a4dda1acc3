package io.lockstep.driver.spark;

import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.media.PortRange;
import io.lockstep.worker.checkpoint.CheckpointStore;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.io.Serializable;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * What a training stage needs from the network and the file system, tried with the job's own layout before any
 * training: a barrier stage of one task per worker, on the executors Spark gives the job. Each rank binds a UDP
 * port in {@code ps.ports} on its executor's address (where its shards and receive endpoints would listen),
 * the ranks exchange those through the barrier's {@code allGather}, and each sends datagrams to the driver's echo
 * port (the address its endpoints use) and to every other rank, answering theirs, until every answer came or the
 * deadline passed: UDP both ways between every pair of hosts the job uses. Each rank also reads the driver's probe
 * file in {@code checkpoint.dir} ({@link CheckpointStore#requireShared}).
 */
public final class ReachStage {
    private ReachStage() {
    }

    /** One rank's outcome: where it ran, whom it did not hear from, and its checkpoint.dir problem (or null). */
    public record RankReach(int rank, String where, boolean driverAnswered, List<Integer> silentRanks,
                            String checkpointProblem) implements Serializable {
        public boolean ok() {
            return driverAnswered && silentRanks.isEmpty() && checkpointProblem == null;
        }
    }

    /**
     * Runs the stage for {@code workers} ranks against an echo on {@code driverHost} (a port in {@code ports});
     * every rank waits at most {@code timeoutMillis} for its answers.
     */
    public static List<RankReach> run(JavaSparkContext sc, int workers, String driverHost, PortRange ports,
                                      CheckpointStore checkpoints, long timeoutMillis) throws IOException {
        int port = FreePorts.udp(driverHost, 1, ports)[0];
        try (DatagramSocket echo = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(driverHost), port))) {
            Thread echoing = new Thread(() -> echo(echo), "lockstep-reach-echo");
            echoing.setDaemon(true);
            echoing.start();
            List<Integer> ranks = IntStream.range(0, workers).boxed().toList();
            return sc.parallelize(ranks, workers).rdd().barrier()
                .mapPartitions(new RankTask(driverHost, port, ports, checkpoints, timeoutMillis), false,
                    scala.reflect.ClassTag$.MODULE$.apply(RankReach.class))
                .toJavaRDD().collect();
        }
    }

    /** Sends every datagram back to where it came from, until the socket closes. */
    private static void echo(DatagramSocket socket) {
        byte[] buffer = new byte[512];
        while (!socket.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buffer, buffer.length);
                socket.receive(p);
                socket.send(new DatagramPacket(p.getData(), p.getLength(), p.getSocketAddress()));
            } catch (IOException closedOrLost) {
                // closed at the end of the stage; a lost reply is resent by the rank
            }
        }
    }

    /** One rank's part: bind, gather the peers, ping the driver and every peer while answering theirs. */
    private static final class RankTask
        extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<RankReach>>
        implements Serializable {
        private final String driverHost;
        private final int driverPort;
        private final PortRange ports;
        private final CheckpointStore checkpoints;
        private final long timeoutMillis;

        RankTask(String driverHost, int driverPort, PortRange ports, CheckpointStore checkpoints, long timeoutMillis) {
            this.driverHost = driverHost;
            this.driverPort = driverPort;
            this.ports = ports;
            this.checkpoints = checkpoints;
            this.timeoutMillis = timeoutMillis;
        }

        @Override
        public scala.collection.Iterator<RankReach> apply(scala.collection.Iterator<Integer> rows) {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            int rank = ctx.partitionId();
            String address = TrainTask.endpointAddress(ctx, driverHost);
            String where = "executor " + SparkEnv.get().executorId() + " " + address;
            String checkpointProblem = null;
            if (checkpoints != null) {
                try {
                    checkpoints.requireShared("rank " + rank + " (" + where + ")");
                } catch (IllegalArgumentException | IOException e) {
                    checkpointProblem = e.getMessage();
                }
            }
            int port = FreePorts.udp(address, 1, ports)[0];
            try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(address), port))) {
                String[] peers = ctx.allGather(address + " " + port);
                Answers answers = new Answers(socket, rank, peers.length);
                Thread answering = new Thread(answers, "lockstep-reach-answers");
                answering.setDaemon(true);
                answering.start();
                try {
                    ping(rank, socket, peers, answers);
                    ctx.barrier(); // every rank goes on answering until all are done
                } finally {
                    answers.stop = true;
                }
                return scala.collection.JavaConverters.asScalaIterator(List.of(new RankReach(rank, where,
                    answers.driverAnswered, new ArrayList<>(answers.silent), checkpointProblem)).iterator());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("rank " + rank + " (" + where + "): " + e.getMessage(), e);
            }
        }

        /** Pings the driver's echo and every silent peer every 200 ms until all answered or the deadline. */
        private void ping(int rank, DatagramSocket socket, String[] peers, Answers answers) throws IOException {
            InetSocketAddress driver = new InetSocketAddress(InetAddress.getByName(driverHost), driverPort);
            byte[] ping = ("ping " + rank).getBytes(StandardCharsets.US_ASCII);
            long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
            while (System.nanoTime() < deadline && (!answers.driverAnswered || !answers.silent.isEmpty())) {
                if (!answers.driverAnswered) {
                    socket.send(new DatagramPacket(ping, ping.length, driver));
                }
                for (int r : answers.silent) {
                    String[] peer = peers[r].split(" ");
                    socket.send(new DatagramPacket(ping, ping.length,
                        new InetSocketAddress(InetAddress.getByName(peer[0]), Integer.parseInt(peer[1]))));
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** Answers peers' pings and notes who answered ours (the driver echoes our own ping back). */
    private static final class Answers implements Runnable {
        private final DatagramSocket socket;
        private final int rank;
        final java.util.Set<Integer> silent = new java.util.concurrent.ConcurrentSkipListSet<>();
        volatile boolean driverAnswered;
        volatile boolean stop;

        Answers(DatagramSocket socket, int rank, int ranks) {
            this.socket = socket;
            this.rank = rank;
            for (int r = 0; r < ranks; r++) {
                if (r != rank) {
                    silent.add(r);
                }
            }
        }

        @Override
        public void run() {
            byte[] pong = ("pong " + rank).getBytes(StandardCharsets.US_ASCII);
            byte[] buffer = new byte[512];
            try {
                socket.setSoTimeout(50);
            } catch (IOException e) {
                return;
            }
            while (!stop && !socket.isClosed()) {
                DatagramPacket p = new DatagramPacket(buffer, buffer.length);
                try {
                    socket.receive(p);
                    String[] message = new String(p.getData(), 0, p.getLength(), StandardCharsets.US_ASCII).split(" ");
                    int from = Integer.parseInt(message[1]);
                    if (message[0].equals("ping") && from == rank) {
                        driverAnswered = true; // our own ping, echoed
                    } else if (message[0].equals("ping")) {
                        socket.send(new DatagramPacket(pong, pong.length, p.getSocketAddress()));
                    } else {
                        silent.remove(from);
                    }
                } catch (SocketTimeoutException quiet) {
                    // look at stop again
                } catch (IOException | RuntimeException closedOrJunk) {
                    // closed at the end, or a datagram that is not ours: ignored
                }
            }
        }
    }
}
