/* csv.h -- one CSV record at a time (RFC 4180 quoting), split in place:
** shared by the label, teacher and box files. */
#ifndef CURATE_CSV_H
#define CURATE_CSV_H

/* The fields of one record: pointers into the file's text, grown as needed
** (a teacher file has a column per class, so there is no fixed limit).
** AT belongs to the vector: cur_free(v.at) when done. */
typedef struct cur_fieldvec {
  char **at;
  int n, cap;
} cur_fieldvec;

/* Appends FIELD to V; CUR_OK or CUR_ENOMEM. */
int cur_fieldvec_push(cur_fieldvec *v, char *field);
/* Splits one CSV record starting at *P into V (fields NUL-terminated in
** place).  Returns CUR_OK, 1 for an unterminated quote, or CUR_ENOMEM; *P
** moves past the record and *LINES counts the newlines consumed. */
int cur_csv_record(char **p, cur_fieldvec *v, int *lines);

#endif
