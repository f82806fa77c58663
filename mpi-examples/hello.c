/* hello: every rank prints its rank, the world size and its host.
 *
 *   mpi_hello [EXPECTED_SIZE [HOLD_SECONDS]]   (or EXPECTED_SIZE in the environment)
 *
 * Exits 1 when the world size differs from the expected one: an MPI that
 * cannot reach its launcher's PMI silently starts every rank as a singleton
 * (world size 1), which a plain "hello" would not notice. With HOLD_SECONDS,
 * every rank then stays in MPI that long before MPI_Finalize, its program
 * and libraries mapped (bench/mpi.sh measures the page cache of a running
 * step with it). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char host[MPI_MAX_PROCESSOR_NAME];
    const char *want_text = argc > 1 ? argv[1] : getenv("EXPECTED_SIZE");
    int rank, size, len, want = 0, hold = argc > 2 ? atoi(argv[2]) : 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(host, &len);
    if (want_text && *want_text)
        want = atoi(want_text);
    printf("hello from rank %d of %d on %s\n", rank, size, host);
    fflush(stdout);
    if (want > 0 && size != want) {
        fprintf(stderr, "mpi_hello: rank %d: world size %d, expected %d\n", rank, size,
                want);
        MPI_Finalize();
        return 1;
    }
    if (hold > 0)
        sleep((unsigned)hold);
    MPI_Finalize();
    return 0;
}
