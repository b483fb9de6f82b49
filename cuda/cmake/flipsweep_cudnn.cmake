# Finds cuDNN (version 9 or later) for the CUDA backend and creates the imported target
# flipsweep::cudnn. Included by the top-level CMakeLists.txt after find_package(CUDAToolkit).
#
# Search order, first hit wins:
#   1. CUDNN_ROOT (CMake variable, else environment variable): <root>/include + <root>/lib{64,,/x86_64-linux-gnu}
#   2. the CUDA toolkit's own include and library directories (NVIDIA's tarball/deb/runfile
#      installs often put cuDNN there)
#   3. PyTorch's copy: the nvidia-cudnn-cu13 / -cu12 wheel, site-packages/nvidia/cudnn/{include,lib},
#      asked of every python3 on PATH and of /usr/bin/python3. The wheel ships only
#      lib/libcudnn.so.9 (no unversioned libcudnn.so), so the library is found by full file name.
# Sets in the caller's scope: FLIPSWEEP_CUDNN_FOUND, FLIPSWEEP_CUDNN_INCLUDE_DIR,
# FLIPSWEEP_CUDNN_LIBRARY, FLIPSWEEP_CUDNN_VERSION, FLIPSWEEP_CUDNN_SOURCE and
# FLIPSWEEP_CUDNN_SEARCHED (what was looked at, for error messages).

# Reads CUDNN_MAJOR/MINOR/PATCHLEVEL from cudnn_version.h; "" when absent.
function(_flipsweep_cudnn_header_version include_dir out)
  set(${out} "" PARENT_SCOPE)
  if(NOT EXISTS "${include_dir}/cudnn_version.h")
    return()
  endif()
  file(STRINGS "${include_dir}/cudnn_version.h" lines REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
  set(parts "")
  foreach(key MAJOR MINOR PATCHLEVEL)
    string(REGEX MATCH "#define CUDNN_${key} +([0-9]+)" unused "${lines}")
    list(APPEND parts "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN parts "." version)
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

# Tries one location: include_dirs and lib_dirs are lists; on success sets the result variables
# of flipsweep_find_cudnn in the caller's scope.
macro(_flipsweep_cudnn_try source include_dirs lib_dirs)
  if(NOT FLIPSWEEP_CUDNN_FOUND)
    string(REPLACE ";" ", " _fs_where "${source}: headers in ${include_dirs} / library in ${lib_dirs}")
    list(APPEND FLIPSWEEP_CUDNN_SEARCHED "${_fs_where}")
    set(_fs_inc "")
    foreach(_fs_dir IN ITEMS ${include_dirs})
      if(NOT _fs_inc AND EXISTS "${_fs_dir}/cudnn.h" AND EXISTS "${_fs_dir}/cudnn_version.h")
        set(_fs_inc "${_fs_dir}")
      endif()
    endforeach()
    set(_fs_lib "")
    foreach(_fs_dir IN ITEMS ${lib_dirs})
      foreach(_fs_name libcudnn.so libcudnn.so.9)
        if(NOT _fs_lib AND EXISTS "${_fs_dir}/${_fs_name}")
          set(_fs_lib "${_fs_dir}/${_fs_name}")
        endif()
      endforeach()
    endforeach()
    if(_fs_inc AND _fs_lib)
      _flipsweep_cudnn_header_version("${_fs_inc}" _fs_version)
      if(_fs_version VERSION_LESS 9)
        message(STATUS "flipsweep: skipping cuDNN ${_fs_version} at ${_fs_inc} (${source}): version 9 or later is needed")
      else()
        set(FLIPSWEEP_CUDNN_FOUND TRUE)
        set(FLIPSWEEP_CUDNN_INCLUDE_DIR "${_fs_inc}")
        set(FLIPSWEEP_CUDNN_LIBRARY "${_fs_lib}")
        set(FLIPSWEEP_CUDNN_VERSION "${_fs_version}")
        set(FLIPSWEEP_CUDNN_SOURCE "${source}")
      endif()
    endif()
  endif()
endmacro()

function(flipsweep_find_cudnn)
  set(FLIPSWEEP_CUDNN_FOUND FALSE)
  set(FLIPSWEEP_CUDNN_SEARCHED "")

  # 1. CUDNN_ROOT
  set(root "")
  if(CUDNN_ROOT)
    set(root "${CUDNN_ROOT}")
  elseif(DEFINED ENV{CUDNN_ROOT} AND NOT "$ENV{CUDNN_ROOT}" STREQUAL "")
    set(root "$ENV{CUDNN_ROOT}")
  endif()
  if(root)
    _flipsweep_cudnn_try("CUDNN_ROOT" "${root}/include"
                         "${root}/lib64;${root}/lib;${root}/lib/x86_64-linux-gnu")
    if(NOT FLIPSWEEP_CUDNN_FOUND)
      message(WARNING "flipsweep: CUDNN_ROOT=${root} holds no cuDNN 9 (include/cudnn.h, cudnn_version.h and "
                      "lib/libcudnn.so[.9]); trying the other locations")
    endif()
  endif()

  # 2. the CUDA toolkit
  _flipsweep_cudnn_try("CUDA toolkit" "${CUDAToolkit_INCLUDE_DIRS}" "${CUDAToolkit_LIBRARY_DIR}")

  # 3. the nvidia-cudnn-cu13/-cu12 wheel (PyTorch's cuDNN), for every python3 we can find.
  #    nvidia.cudnn may be a namespace package (no __init__.py, so no __file__): use __path__[0].
  if(NOT FLIPSWEEP_CUDNN_FOUND)
    set(pythons "")
    string(REPLACE ":" ";" path_dirs "$ENV{PATH}")
    foreach(dir IN LISTS path_dirs)
      if(dir AND EXISTS "${dir}/python3" AND NOT IS_DIRECTORY "${dir}/python3")
        list(APPEND pythons "${dir}/python3")
      endif()
    endforeach()
    list(APPEND pythons /usr/bin/python3)
    list(REMOVE_DUPLICATES pythons)
    set(probe "import os, nvidia.cudnn as m; f = getattr(m, '__file__', None); print(os.path.dirname(f) if f else list(m.__path__)[0])")
    foreach(python IN LISTS pythons)
      if(NOT FLIPSWEEP_CUDNN_FOUND AND EXISTS "${python}")
        execute_process(COMMAND "${python}" -c "${probe}" RESULT_VARIABLE rc OUTPUT_VARIABLE dir
                        ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 60)
        if(rc EQUAL 0 AND IS_DIRECTORY "${dir}")
          _flipsweep_cudnn_try("pip nvidia-cudnn via ${python}" "${dir}/include" "${dir}/lib")
        else()
          list(APPEND FLIPSWEEP_CUDNN_SEARCHED "${python}: no nvidia.cudnn module")
        endif()
      endif()
    endforeach()
  endif()

  foreach(var FOUND INCLUDE_DIR LIBRARY VERSION SOURCE SEARCHED)
    set(FLIPSWEEP_CUDNN_${var} "${FLIPSWEEP_CUDNN_${var}}" PARENT_SCOPE)
  endforeach()
  if(FLIPSWEEP_CUDNN_FOUND AND NOT TARGET flipsweep::cudnn)
    add_library(flipsweep::cudnn SHARED IMPORTED GLOBAL)
    set_target_properties(flipsweep::cudnn PROPERTIES
      IMPORTED_LOCATION "${FLIPSWEEP_CUDNN_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${FLIPSWEEP_CUDNN_INCLUDE_DIR}")
    # No IMPORTED_SONAME: the linker then records libcudnn.so.9 (the library's own SONAME), and
    # the build-tree RPATH gets its directory, so binaries find the wheel's copy without
    # LD_LIBRARY_PATH. libcudnn loads its sub-libraries (cnn, ops, engines) from $ORIGIN.
  endif()
endfunction()
