# ctest unit_layers: cmake -DSOURCE_DIR=<dir> -DWORK_DIR=<dir> -P cmake/test_check_layers.cmake
# The tree as it is keeps to the layers, and a back-edge planted in a copy of it is caught, with
# a message naming the file, the header and what the layer may include.
cmake_minimum_required(VERSION 3.25)
set(check ${CMAKE_CURRENT_LIST_DIR}/check_layers.cmake)
execute_process(COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${SOURCE_DIR} -P ${check}
                RESULT_VARIABLE rc ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the tree breaks the layering:\n${out}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(COPY ${SOURCE_DIR}/src DESTINATION ${WORK_DIR})
# pgbouncer may not use deploy: the kind of edge the issue found (render/, as the folder was
# called, needing conninfo, ...).
file(WRITE ${WORK_DIR}/src/pgbouncer/back_edge.cpp "#include \"deploy/request.h\"\n")
execute_process(COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${WORK_DIR} -P ${check}
                RESULT_VARIABLE rc ERROR_VARIABLE out)
file(REMOVE_RECURSE ${WORK_DIR})
string(REGEX REPLACE "[ \n]+" " " out "${out}")
if(rc EQUAL 0 OR NOT out MATCHES "src/pgbouncer/back_edge.cpp includes \"deploy/request.h\", but layer pgbouncer may include only pgbouncer/ and: cluster, util")
  message(FATAL_ERROR "a back-edge was not caught (exit ${rc}):\n${out}")
endif()
message(STATUS "layering kept, and a planted back-edge caught")
