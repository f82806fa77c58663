/* allreduce: every rank contributes rank+1 (and a vector of them); the sum
 * must be size*(size+1)/2 on every rank. Exits 1 on a wrong sum. */
#include <mpi.h>
#include <stdio.h>

#define N 1024

int main(int argc, char **argv)
{
    int rank, size, bad = 0, any_bad = 0;
    long one, sum, want;
    static double vec[N], vsum[N];

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    want = (long)size * (size + 1) / 2;
    one = rank + 1;
    MPI_Allreduce(&one, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (sum != want) {
        fprintf(stderr, "mpi_allreduce: rank %d: sum %ld, expected %ld\n", rank, sum,
                want);
        bad = 1;
    }
    for (int i = 0; i < N; i++)
        vec[i] = (double)(rank + 1) * i;
    MPI_Allreduce(vec, vsum, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < N; i++)
        if (vsum[i] != (double)want * i) {
            fprintf(stderr, "mpi_allreduce: rank %d: element %d is %g, expected %g\n",
                    rank, i, vsum[i], (double)want * i);
            bad = 1;
            break;
        }
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("allreduce over %d ranks: %s (sum %ld)\n", size, any_bad ? "WRONG" : "ok",
               sum);
    MPI_Finalize();
    return any_bad;
}
