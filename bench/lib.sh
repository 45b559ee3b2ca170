# Shared helpers of the bench/ scripts (sourced).

# median: the middle line of numbers on stdin (the upper one of two); nothing for none.
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
