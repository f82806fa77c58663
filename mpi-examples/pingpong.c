/* pingpong: latency and bandwidth between ranks 0 and 1 over message sizes
 * from 0 bytes to 4 MiB (doubling). Needs exactly 2 ranks.
 *
 *   mpi_pingpong [ITERATIONS]      (default 1000; fewer for large messages)
 *
 * Prints one line per size: bytes, one-way latency (half the round trip) in
 * microseconds and bandwidth in MB/s (10^6 bytes per second). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES (4 << 20)

static double round_trip(char *buf, int bytes, int iters, int rank)
{
    double t0;

    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++) {
        if (rank == 0) {
            MPI_Send(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / iters;
}

int main(int argc, char **argv)
{
    int rank, size, iters = argc > 1 ? atoi(argv[1]) : 1000;
    char *buf;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0)
            fprintf(stderr, "mpi_pingpong: needs exactly 2 ranks, got %d\n", size);
        MPI_Finalize();
        return 1;
    }
    if (iters < 1)
        iters = 1;
    buf = malloc(MAX_BYTES);
    if (!buf)
        MPI_Abort(MPI_COMM_WORLD, 1);
    memset(buf, 1, MAX_BYTES);
    if (rank == 0)
        printf("%10s %12s %12s\n", "bytes", "latency_us", "MB/s");
    for (int bytes = 0; bytes <= MAX_BYTES; bytes = bytes ? bytes * 2 : 1) {
        int n = bytes >= (64 << 10) ? (iters + 9) / 10 : iters;
        double t;

        round_trip(buf, bytes, n / 10 + 1, rank); /* warm up */
        t = round_trip(buf, bytes, n, rank) / 2;
        if (rank == 0)
            printf("%10d %12.2f %12.1f\n", bytes, t * 1e6, bytes ? bytes / t / 1e6 : 0.0);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
